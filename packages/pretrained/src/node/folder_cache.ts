import { randomBytes } from "node:crypto";
import { mkdir, open, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import type { CachedFile, CacheEntryMeta, CacheWriter, FileCache } from "../cache/cache.js";
import { PretrainedArgumentError, PretrainedError } from "../errors.js";

/**
 * The platform's cache folder for our files: $LLM_CACHE_DIR when set; otherwise
 * $XDG_CACHE_HOME/llm or ~/.cache/llm (Linux and others), ~/Library/Caches/llm (macOS),
 * %LOCALAPPDATA%\llm\Cache (Windows).
 */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): string {
  if (env.LLM_CACHE_DIR) return env.LLM_CACHE_DIR;
  if (platform === "darwin") return join(homedir(), "Library", "Caches", "llm");
  if (platform === "win32") return join(env.LOCALAPPDATA ?? join(homedir(), "AppData", "Local"), "llm", "Cache");
  return join(env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "llm");
}

/**
 * A FileCache in a folder: each URL's bytes at files/{host}/{path} (so a Hub file sits at
 * files/huggingface.co/{org}/{name}/resolve/{revision}/{file}, readable as a plain folder), its
 * meta (size, sha256, commit) at meta/{host}/{path}.json. Bytes are written to a temporary file
 * beside the target, flushed to disk and renamed over it; the meta is written the same way after
 * them, and a file counts as cached only when its meta is there and its size agrees.
 */
export function folderCache(root: string = defaultCacheDir()): FileCache {
  const paths = (url: string) => {
    const relative = relativePath(url);
    return { file: join(root, "files", ...relative), meta: `${join(root, "meta", ...relative)}.json` };
  };
  return {
    location: root,
    async get(url) {
      const { file, meta: metaPath } = paths(url);
      const meta = await readMeta(metaPath);
      if (!meta) return null;
      if ("missing" in meta) return "missing";
      const size = await fileSize(file);
      if (size !== meta.size) return null;
      return diskFile(file, meta);
    },
    async writer(url) {
      const { file, meta: metaPath } = paths(url);
      await mkdir(dirname(file), { recursive: true });
      const temp = temporaryName(file);
      const handle = await open(temp, "w");
      let closed = false;
      const close = async () => {
        if (!closed) {
          closed = true;
          await handle.close();
        }
      };
      return {
        async write(chunk) {
          await handle.write(chunk);
        },
        async commit(meta) {
          await handle.sync();
          await close();
          await rename(temp, file);
          await writeAtomic(metaPath, JSON.stringify(meta, null, 2));
          return diskFile(file, meta);
        },
        async abort() {
          await close().catch(() => {});
          await rm(temp, { force: true });
        },
      } satisfies CacheWriter;
    },
    async putMissing(url) {
      await writeAtomic(paths(url).meta, JSON.stringify({ url, missing: true, checkedAt: new Date().toISOString() }, null, 2));
    },
    async delete(url) {
      const { file, meta } = paths(url);
      await rm(meta, { force: true });
      await rm(file, { force: true });
    },
  };
}

/** A URL as folder names: host (port after "_"), then each path segment; nothing that climbs out. */
function relativePath(url: string): string[] {
  const u = new URL(url);
  const segments = u.pathname
    .split("/")
    .filter((s) => s !== "")
    .map((s) => safeSegment(decodeURIComponent(s), url));
  return [u.host.replace(":", "_"), ...segments];
}

function safeSegment(segment: string, url: string): string {
  if (segment === "." || segment === ".." || segment.includes("\0")) {
    throw new PretrainedArgumentError(`${url}: expected a URL path without "." or ".." segments, found ${JSON.stringify(segment)}`);
  }
  // characters Windows refuses in names, and path separators inside a segment (an encoded "/")
  return segment.replace(/[<>:"|?*\\/]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, "0")}`);
}

function temporaryName(path: string): string {
  return `${path}.${process.pid}.${randomBytes(6).toString("hex")}.partial`;
}

async function writeAtomic(path: string, text: string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = temporaryName(path);
  try {
    await writeFile(temp, text, { flush: true });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
}

async function readMeta(path: string): Promise<CacheEntryMeta | { missing: true } | null> {
  try {
    return JSON.parse(await readFile(path, "utf8")) as CacheEntryMeta | { missing: true };
  } catch {
    return null; // no meta (or a damaged one): not cached
  }
}

async function fileSize(path: string): Promise<number | null> {
  try {
    return (await stat(path)).size;
  } catch {
    return null;
  }
}

function diskFile(path: string, meta: CacheEntryMeta): CachedFile {
  return {
    size: meta.size,
    meta,
    async read(position, target) {
      const handle = await open(path, "r");
      try {
        let done = 0;
        while (done < target.byteLength) {
          const { bytesRead } = await handle.read(target, done, target.byteLength - done, position + done);
          if (bytesRead === 0)
            throw new PretrainedError(`${path}: expected ${target.byteLength} bytes at ${position}, the file ended after ${done}`);
          done += bytesRead;
        }
      } finally {
        await handle.close();
      }
    },
  };
}
