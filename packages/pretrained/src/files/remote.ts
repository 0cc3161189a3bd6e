import type { CheckpointFiles } from "@llm/tensor";
import type { CachedFile, FileCache } from "../cache/cache.js";
import { DownloadError, NotCachedError, PretrainedArgumentError } from "../errors.js";
import { DownloadDigest, nobleHasher, type HasherFactory } from "./digest.js";
import { expectedFile, fetchKeepingHops, isMissingFile, responseError, responseFacts, type HttpOptions } from "./http.js";
import { throttled, type ProgressCallback } from "./progress.js";

export interface RemoteFilesOptions extends HttpOptions {
  /**
   * Where downloaded files are kept (null: none, each read is an HTTP range request). With a cache
   * a file is fetched whole the first time it is needed, checked, and read from the cache.
   */
  cache?: FileCache | null;
  /** Only the cache: no request is made, and a file not in it is an error. */
  offline?: boolean;
  /** Fetch files again even when they are cached. */
  refresh?: boolean;
  /** Hash cached files again on every load and fetch those whose sha256 no longer matches (default: size only). */
  verifyCached?: boolean;
  onProgress?: ProgressCallback;
  /** Attempts after a failed, truncated or corrupted download (default 2). */
  retries?: number;
  /** Makes the sha256/sha1 hashers (@llm/pretrained/node passes Node's crypto). */
  hasher?: HasherFactory;
}

interface Entry {
  size: number;
  read(position: number, target: Uint8Array): Promise<void>;
}

/**
 * The files of a model folder at a base URL (a Hub repository's `.../resolve/{revision}/`, or any
 * server), as CheckpointFiles: loadModelFrom reads a checkpoint from it as from a folder on disk.
 * Files are fetched on first use (so only the files a model needs), through the cache when there
 * is one.
 */
export class RemoteFiles implements CheckpointFiles {
  readonly location: string;
  private readonly entries = new Map<string, Promise<Entry | null>>();

  constructor(
    baseUrl: string,
    private readonly options: RemoteFilesOptions = {},
  ) {
    if (!/^https?:\/\//.test(baseUrl)) throw new PretrainedArgumentError(`expected an http(s) base URL, found ${JSON.stringify(baseUrl)}`);
    this.location = baseUrl.endsWith("/") ? baseUrl : `${baseUrl}/`;
    if (options.offline && !options.cache) throw new PretrainedArgumentError("offline: expected a cache to read from, found cache: false");
  }

  /** A file's URL: the base and the name, each path segment encoded. */
  url(name: string): string {
    return this.location + name.split("/").map(encodeURIComponent).join("/");
  }

  async size(name: string): Promise<number | null> {
    return (await this.entry(name))?.size ?? null;
  }

  async readInto(name: string, position: number, target: Uint8Array): Promise<void> {
    const entry = await this.entry(name);
    if (!entry) throw new DownloadError(`${this.url(name)}: no such file on the server`, this.url(name), 404);
    await entry.read(position, target);
  }

  private entry(name: string): Promise<Entry | null> {
    let entry = this.entries.get(name);
    if (!entry) {
      entry = this.options.cache ? this.cached(name, this.options.cache) : this.ranged(name);
      this.entries.set(name, entry);
      // a failed fetch is not remembered: the next call tries again
      entry.catch(() => this.entries.delete(name));
    }
    return entry;
  }

  /** The file from the cache, fetched into it first when it is not there. */
  private async cached(name: string, cache: FileCache): Promise<Entry | null> {
    const url = this.url(name);
    const { offline, refresh, onProgress } = this.options;
    if (!refresh || offline) {
      const hit = await cache.get(url);
      if (hit === "missing") return null;
      if (hit && (await this.stillValid(hit))) {
        onProgress?.({ file: name, loaded: hit.size, total: hit.size, done: true, cached: true });
        return hit;
      }
      if (hit) await cache.delete(url);
    }
    if (offline) throw new NotCachedError(`${url}: not in the cache (${cache.location}), and offline mode makes no request`, url);
    return this.download(name, url, cache);
  }

  /** A cached file's sha256, hashed again where the caller asked for it. */
  private async stillValid(file: CachedFile): Promise<boolean> {
    if (!this.options.verifyCached || !file.meta?.sha256) return true;
    const hasher = (this.options.hasher ?? nobleHasher)("sha256");
    const chunk = new Uint8Array(Math.min(file.size, 8 << 20));
    for (let at = 0; at < file.size; at += chunk.byteLength) {
      const part = chunk.subarray(0, Math.min(chunk.byteLength, file.size - at));
      await file.read(at, part);
      hasher.update(part);
    }
    return hasher.hex() === file.meta.sha256;
  }

  /** Fetches a file into the cache, checked against the size and digests the server gave; retried when it is not what was promised. */
  private async download(name: string, url: string, cache: FileCache): Promise<CachedFile | null> {
    const attempts = 1 + (this.options.retries ?? 2);
    const problems: string[] = [];
    for (let attempt = 0; attempt < attempts; attempt++) {
      this.options.signal?.throwIfAborted();
      let fetched: Awaited<ReturnType<typeof fetchKeepingHops>>;
      try {
        fetched = await fetchKeepingHops(url, { headers: { "accept-encoding": "identity" } }, this.options);
      } catch (error) {
        if (this.options.signal?.aborted) throw this.options.signal.reason;
        problems.push(`attempt ${attempt + 1}: ${networkProblem(error)}`);
        continue;
      }
      const { response } = fetched;
      if (isMissingFile(response)) {
        await response.body?.cancel();
        await cache.putMissing(url);
        return null;
      }
      if (response.status >= 500) {
        // the server's trouble, maybe passing: try again
        problems.push(`attempt ${attempt + 1}: ${(await responseError(url, response)).message.slice(url.length + 2)}`);
        continue;
      }
      if (!response.ok) throw await responseError(url, response);
      const expected = expectedFile(fetched);
      const digest = new DownloadDigest(expected, this.options.hasher ?? nobleHasher);
      const report = throttled(this.options.onProgress, name, expected.size, false);
      const writer = await cache.writer(url, expected.size);
      try {
        report(0);
        for await (const chunk of bodyChunks(response)) {
          digest.update(chunk);
          await writer.write(chunk);
          report(digest.bytes);
        }
      } catch (error) {
        await writer.abort();
        if (this.options.signal?.aborted) throw this.options.signal.reason;
        problems.push(`attempt ${attempt + 1}: ${(error as Error).message}`);
        continue;
      }
      const problem = digest.finish();
      if (problem) {
        await writer.abort();
        problems.push(`attempt ${attempt + 1}: ${problem}`);
        continue;
      }
      const { commit, etag } = responseFacts(fetched);
      const file = await writer.commit({
        url,
        size: digest.bytes,
        sha256: digest.foundSha256 ?? expected.sha256,
        etag,
        commit,
        fetchedAt: new Date().toISOString(),
      });
      report(digest.bytes, true);
      return file;
    }
    throw new DownloadError(`${url}: download failed ${attempts} times (${problems.join("; ")})`, url);
  }

  /** Without a cache: the file's size from a one-byte range request, then each read its own range request. */
  private async ranged(name: string): Promise<Entry | null> {
    const url = this.url(name);
    const probe = await fetchKeepingHops(url, { headers: { range: "bytes=0-0" } }, this.options).catch((error: unknown) => {
      if (this.options.signal?.aborted) throw this.options.signal.reason;
      throw new DownloadError(`${url}: ${networkProblem(error)}`, url);
    });
    const { response } = probe;
    if (isMissingFile(response)) {
      await response.body?.cancel();
      return null;
    }
    if (response.status === 416) {
      await response.body?.cancel();
      return { size: 0, read: async () => {} };
    }
    if (!response.ok) throw await responseError(url, response);
    const report = (loaded: number, total: number) =>
      this.options.onProgress?.({ file: name, loaded, total, done: loaded >= total, cached: false });
    if (response.status === 200) {
      // the server sends whole files only: keep this one in memory
      const bytes = new Uint8Array(await response.arrayBuffer());
      report(bytes.byteLength, bytes.byteLength);
      return {
        size: bytes.byteLength,
        read: async (position, target) => target.set(bytes.subarray(position, position + target.byteLength)),
      };
    }
    await response.body?.cancel();
    const total = Number(/\/(\d+)\s*$/.exec(response.headers.get("content-range") ?? "")?.[1] ?? Number.NaN);
    if (!Number.isFinite(total))
      throw new DownloadError(`${url}: expected a Content-Range with the file's size, found none`, url, response.status);
    let loaded = 0;
    return {
      size: total,
      read: async (position, target) => {
        if (target.byteLength === 0) return;
        const end = position + target.byteLength - 1;
        const part = await fetchKeepingHops(url, { headers: { range: `bytes=${position}-${end}` } }, this.options);
        if (part.response.status !== 206) throw await responseError(url, part.response);
        let at = 0;
        for await (const chunk of bodyChunks(part.response)) {
          if (at + chunk.byteLength > target.byteLength)
            throw new DownloadError(`${url}: range ${position}-${end}: more bytes than asked for`, url);
          target.set(chunk, at);
          at += chunk.byteLength;
        }
        if (at !== target.byteLength)
          throw new DownloadError(`${url}: range ${position}-${end}: expected ${target.byteLength} bytes, found ${at}`, url);
        loaded += at;
        report(Math.min(loaded, total), total);
      },
    };
  }
}

/** A failed fetch in words: fetch's own "fetch failed" says little; its cause says what. */
function networkProblem(error: unknown): string {
  const e = error as Error & { cause?: { code?: string; message?: string } };
  const cause = e.cause?.code ?? e.cause?.message;
  return `cannot reach the server (${e.message}${cause ? `: ${cause}` : ""})`;
}

/** A response body as Uint8Array chunks. */
async function* bodyChunks(response: Response): AsyncGenerator<Uint8Array> {
  if (!response.body) return;
  const reader = response.body.getReader();
  let finished = false;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) {
        finished = true;
        return;
      }
      yield value;
    }
  } finally {
    // a consumer that stopped early (an error, a range with too many bytes) ends the transfer
    if (!finished) await reader.cancel().catch(() => {});
    reader.releaseLock();
  }
}
