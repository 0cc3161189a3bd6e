/** What a cache keeps beside a file's bytes. */
export interface CacheEntryMeta {
  /** The URL the bytes came from (the cache key). */
  readonly url: string;
  readonly size: number;
  /** The sha256 the server gave and the bytes were checked against, or the one computed when it gave none. */
  readonly sha256: string | null;
  readonly etag: string | null;
  /** The repository commit the Hub served the file from (X-Repo-Commit). */
  readonly commit: string | null;
  readonly fetchedAt: string;
}

/** A file in the cache: read by byte range, so a model's weights go straight into their arrays. */
export interface CachedFile {
  readonly size: number;
  readonly meta: CacheEntryMeta | null;
  read(position: number, target: Uint8Array): Promise<void>;
}

/** Bytes on their way into the cache: nothing is visible under the URL until commit(). */
export interface CacheWriter {
  write(chunk: Uint8Array): Promise<void>;
  /** Makes the file visible under its URL, all at once (a rename, or the Cache API's put). */
  commit(meta: CacheEntryMeta): Promise<CachedFile>;
  /** Drops what was written. */
  abort(): Promise<void>;
}

/**
 * Where downloaded files are kept: a folder in Node (@llm/pretrained/node's folderCache), the
 * Cache API in browsers (browserCache). A file is written under a temporary name and made visible
 * whole, after its size and sha256 were checked; a file the server said does not exist is
 * remembered too, so a cached load makes no request at all.
 */
export interface FileCache {
  /** Where the cache is (a folder, a Cache API name), for messages. */
  readonly location: string;
  /** The file, "missing" when the server said there is none, or null when the cache does not know. */
  get(url: string): Promise<CachedFile | "missing" | null>;
  /** Starts writing a file; `expectedSize` (when the server gave one) lets a cache declare it up front. */
  writer(url: string, expectedSize: number | null): Promise<CacheWriter>;
  /** Remembers that the server has no such file. */
  putMissing(url: string): Promise<void>;
  /** Forgets a file (a cached copy that failed verification). */
  delete(url: string): Promise<void>;
}
