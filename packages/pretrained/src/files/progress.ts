/** Where one file of a load stands: bytes so far of how many. */
export interface LoadProgress {
  /** The file's name in the model folder (config.json, model-00001-of-00002.safetensors, ...). */
  readonly file: string;
  /** Bytes fetched (or, without a cache, read) so far. */
  readonly loaded: number;
  /** The file's size, when known. */
  readonly total: number | null;
  /** True once the file is complete. */
  readonly done: boolean;
  /** True when the file came from the cache, with no request. */
  readonly cached: boolean;
}

export type ProgressCallback = (progress: LoadProgress) => void;

/** Reports at most every `step` bytes (and always the first and last report), so a large file gives a few hundred events, not one per chunk. */
export function throttled(report: ProgressCallback | undefined, file: string, total: number | null, cached: boolean) {
  const step = Math.max(1 << 20, (total ?? 0) / 200);
  let last = -1;
  return (loaded: number, done = false) => {
    if (!report) return;
    if (done || last < 0 || loaded - last >= step) {
      last = loaded;
      report({ file, loaded, total, done, cached });
    }
  };
}
