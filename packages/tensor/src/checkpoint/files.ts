import { TensorError } from "../errors.js";

/** The files of a checkpoint folder in the Hugging Face layout. */
export const CONFIG_FILE = "config.json";
export const SAFETENSORS_FILE = "model.safetensors";
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";

/**
 * Read access to the files of one checkpoint folder, wherever they are: a folder on disk
 * (@llm/tensor/node's checkpointFolder), bytes already in memory (checkpointFilesFromBytes), a
 * server. Reads are by byte range, so a reader fetches a header without the tensors after it and
 * reads each tensor straight into the array that will hold it.
 */
export interface CheckpointFiles {
  /** Where the files are (a path, a URL), named in error messages. */
  readonly location: string;
  /** A file's size in bytes, or null when there is no such file. */
  size(name: string): Promise<number | null>;
  /** Fills `target` with the file's bytes from `position` on (all of them, or an error). */
  readInto(name: string, position: number, target: Uint8Array): Promise<void>;
}

/** Why a checkpoint folder cannot be read: no config.json, config.json not JSON, no weights. */
export type CheckpointFileErrorCode = "no-config" | "bad-config" | "no-weights";

export class CheckpointFileError extends TensorError {
  constructor(
    readonly code: CheckpointFileErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A whole file as bytes, or null when there is none. */
export async function readWholeFile(files: CheckpointFiles, name: string): Promise<Uint8Array | null> {
  const size = await files.size(name);
  if (size === null) return null;
  const bytes = new Uint8Array(size);
  await files.readInto(name, 0, bytes);
  return bytes;
}

/** A checkpoint held in memory (files fetched by the caller, a test): name -> bytes. */
export function checkpointFilesFromBytes(files: Readonly<Record<string, Uint8Array | string>>, location = "memory"): CheckpointFiles {
  const bytes = new Map(Object.entries(files).map(([name, v]) => [name, typeof v === "string" ? new TextEncoder().encode(v) : v]));
  return {
    location,
    size: async (name) => bytes.get(name)?.byteLength ?? null,
    async readInto(name, position, target) {
      const file = bytes.get(name);
      if (!file) throw new CheckpointFileError("no-weights", `${location}/${name}: no such file`);
      if (position + target.byteLength > file.byteLength) {
        throw new CheckpointFileError(
          "no-weights",
          `${location}/${name}: expected ${target.byteLength} bytes at ${position}, the file has ${file.byteLength}`,
        );
      }
      target.set(file.subarray(position, position + target.byteLength));
    },
  };
}
