import { PretrainedArgumentError } from "../errors.js";
import type { CachedFile, CacheEntryMeta, CacheWriter, FileCache } from "./cache.js";

/** The Cache API's name for our files unless another is given. */
export const DEFAULT_BROWSER_CACHE = "llm-pretrained";

const MISSING = "x-llm-missing";

/** The part of the Cache API used here (declared, so the package needs no DOM typings). */
interface ResponseCache {
  match(url: string): Promise<Response | undefined>;
  put(url: string, response: Response): Promise<void>;
  delete(url: string): Promise<boolean>;
}
interface ResponseCacheStorage {
  open(name: string): Promise<ResponseCache>;
}

/**
 * A FileCache on the browser's Cache API (window or worker; it needs a secure context: https or
 * localhost). A file is put as one response whose body streams in as it downloads: the put only
 * lands once the body is complete and checked, so an aborted or corrupted download leaves nothing.
 * Reads slice the cached Blob, so a model's weights are never all in memory twice. The entry's
 * meta (size, sha256, commit) is a second, tiny entry beside it.
 */
export function browserCache(name = DEFAULT_BROWSER_CACHE): FileCache {
  const storage = (globalThis as { caches?: ResponseCacheStorage }).caches;
  if (!storage) {
    throw new PretrainedArgumentError(
      "browserCache: expected the Cache API (globalThis.caches: a browser page or worker in a secure context), found none; pass cache: false",
    );
  }
  const open = () => storage.open(name);
  return {
    location: `Cache API "${name}"`,
    async get(url) {
      const cache = await open();
      const response = await cache.match(url);
      if (!response) return null;
      if (response.headers.get(MISSING)) return "missing";
      const meta = (await (await cache.match(metaKey(url)))?.json().catch(() => null)) as CacheEntryMeta | null;
      const blob = await response.blob();
      // the meta is written after the file: a file without one, or of another size, is fetched again
      if (!meta || meta.size !== blob.size) return null;
      return blobFile(blob, meta);
    },
    async writer(url, expectedSize) {
      const cache = await open();
      const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
      const sink = writable.getWriter();
      const headers = new Headers({ "content-type": "application/octet-stream" });
      if (expectedSize !== null) headers.set("content-length", String(expectedSize));
      // put reads the body as it is written and stores nothing unless the stream closes normally
      const put = cache.put(url, new Response(readable, { headers }));
      put.catch(() => {});
      return {
        write: (chunk) => sink.write(chunk),
        async commit(meta) {
          await sink.close();
          await put;
          await cache.put(metaKey(url), new Response(JSON.stringify(meta), { headers: { "content-type": "application/json" } }));
          const stored = await cache.match(url);
          return blobFile(await stored!.blob(), meta);
        },
        async abort() {
          await sink.abort(new Error("download abandoned")).catch(() => {});
          await put.catch(() => {});
        },
      } satisfies CacheWriter;
    },
    async putMissing(url) {
      const cache = await open();
      await cache.put(url, new Response(null, { headers: { [MISSING]: "1" } }));
    },
    async delete(url) {
      const cache = await open();
      await cache.delete(url);
      await cache.delete(metaKey(url));
    },
  };
}

/** The meta entry's key: the file's URL with a query parameter no file server reads. */
function metaKey(url: string): string {
  const u = new URL(url);
  u.searchParams.set("llm-cache-meta", "1");
  return u.href;
}

function blobFile(blob: Blob, meta: CacheEntryMeta | null): CachedFile {
  return {
    size: blob.size,
    meta,
    async read(position, target) {
      const bytes = new Uint8Array(await blob.slice(position, position + target.byteLength).arrayBuffer());
      if (bytes.byteLength !== target.byteLength) {
        throw new PretrainedArgumentError(`cached file: expected ${target.byteLength} bytes at ${position}, the file has ${blob.size}`);
      }
      target.set(bytes);
    },
  };
}
