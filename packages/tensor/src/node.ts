/**
 * `@llm/tensor/node`: safetensors files on disk. A separate entry point so that browser bundles of
 * `@llm/tensor` never import `fs`.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import {
  parseSafetensors,
  parseSafetensorsLayout,
  readSafetensorsHeaderLength,
  SafetensorsError,
  saveSafetensors,
  serializeSafetensors,
  type LoadSafetensorsOptions,
  type ParsedSafetensors,
  type SafetensorsEntry,
  type SafetensorsRawTensors,
} from "./safetensors/index.js";
import { setTensor, tensorFromSafetensorsEntry } from "./safetensors/tensors.js";
import type { Tensor } from "./tensor.js";

export type FilePath = string | URL;
type Metadata = Readonly<Record<string, string>> | null;

export interface ReadSafetensorsFileOptions extends Omit<LoadSafetensorsOptions, "source"> {
  /**
   * Files up to this size are read whole, in one readFile; larger ones header first and then one
   * tensor at a time, so memory holds at most one tensor's bytes besides the tensors themselves
   * (and readFile cannot read past 2 GiB). Default 1 GiB.
   */
  maxWholeFileBytes?: number;
}

const DEFAULT_MAX_WHOLE_FILE_BYTES = 2 ** 30;
export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";
export const SAFETENSORS_FILE = "model.safetensors";

const toPath = (path: FilePath): string => (typeof path === "string" ? path : fileURLToPath(path));

// ---- reading one file ----

/** Parses a safetensors file read whole (one readFile); tensor bytes are views of it. Errors name the file. */
export async function readSafetensorsFileRaw(path: FilePath): Promise<ParsedSafetensors> {
  const file = toPath(path);
  const buffer = await readFile(file);
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), { source: file });
}

/** Loads every tensor of a safetensors file (dtype rules as `loadSafetensors`). */
export async function readSafetensorsFile(
  path: FilePath,
  options: ReadSafetensorsFileOptions = {},
): Promise<Record<string, Tensor>> {
  return loadTensors(toPath(path), options);
}

/** The tensors a shard must hold, and the index that says so (named when one is missing). */
interface Wanted {
  names: readonly string[];
  indexPath: string;
}

/** Loads all tensors of a file, or only the wanted ones; frees what it made if anything fails. */
async function loadTensors(
  file: string,
  options: ReadSafetensorsFileOptions,
  wanted?: Wanted,
): Promise<Record<string, Tensor>> {
  const { maxWholeFileBytes = DEFAULT_MAX_WHOLE_FILE_BYTES, ...rest } = options;
  const load = { ...rest, source: file };
  const out: Record<string, Tensor> = {};
  try {
    if ((await stat(file)).size <= maxWholeFileBytes) {
      const { tensors } = await readSafetensorsFileRaw(file);
      for (const [name, entry] of pick(tensors, file, wanted))
        setTensor(out, name, tensorFromSafetensorsEntry(name, entry, load));
      return out;
    }
    // Header first, then each tensor's bytes, converted and uploaded before the next is read.
    const handle = await open(file, "r");
    try {
      const { size } = await handle.stat();
      const headerLength = readSafetensorsHeaderLength(await readAt(handle, 0, Math.min(8, size), file), size, load);
      const layout = parseSafetensorsLayout(await readAt(handle, 0, 8 + headerLength, file), size, load);
      for (const [name, { dtype, shape, begin, end }] of pick(layout.tensors, file, wanted)) {
        const bytes = await readAt(handle, layout.dataStart + begin, end - begin, file);
        setTensor(out, name, tensorFromSafetensorsEntry(name, { dtype, shape, bytes }, load));
      }
      return out;
    } finally {
      await handle.close();
    }
  } catch (error) {
    for (const t of Object.values(out)) t.dispose();
    throw error;
  }
}

/** Exactly `length` bytes at `position` (a read may return less; each call stays under 2 GiB). */
async function readAt(handle: FileHandle, position: number, length: number, file: string): Promise<Uint8Array> {
  const out = new Uint8Array(length);
  for (let done = 0; done < length;) {
    const { bytesRead } = await handle.read(out, done, Math.min(length - done, 2 ** 30), position + done);
    if (bytesRead === 0) {
      throw new SafetensorsError(
        "truncated",
        { source: file },
        `expected ${length} bytes at offset ${position}, found ${done} (did the file shrink while being read?)`,
      );
    }
    done += bytesRead;
  }
  return out;
}

/** All of a file's tensors, or the wanted ones, each of which must be there. */
function pick<T>(available: ReadonlyMap<string, T>, file: string, wanted?: Wanted): ReadonlyMap<string, T> {
  if (!wanted) return available;
  const picked = new Map<string, T>();
  for (const name of wanted.names) {
    const entry = available.get(name);
    if (entry === undefined) {
      throw new SafetensorsError(
        "index",
        { source: wanted.indexPath, key: name },
        `expected the tensor in shard ${file} (as weight_map says), found no such tensor there`,
      );
    }
    picked.set(name, entry);
  }
  return picked;
}

// ---- writing ----

/** Writes tensors as a safetensors file, atomically (readers see the old file or the new one). */
export async function writeSafetensorsFile(
  path: FilePath,
  tensors: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>,
  metadata?: Metadata,
): Promise<void> {
  await writeFileAtomic(toPath(path), await saveSafetensors(tensors, metadata));
}

/** Writes raw entries (dtype, shape, bytes) as a safetensors file, atomically. */
export async function writeSafetensorsFileRaw(
  path: FilePath,
  tensors: SafetensorsRawTensors,
  metadata?: Metadata,
): Promise<void> {
  await writeFileAtomic(toPath(path), serializeSafetensors(tensors, metadata));
}

/**
 * Writes to a fresh temporary name in the same directory, flushes it to disk, then renames it over
 * `path`: rename within a directory is atomic, so a crash never leaves a half-written checkpoint.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx");
    try {
      await handle.writeFile(bytes);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

// ---- sharded checkpoints ----

/**
 * Reads a sharded checkpoint through its `model.safetensors.index.json`: every tensor named in
 * `weight_map`, from the shard it names (each shard read whole, once). `metadata` is the index's.
 */
export async function readShardedSafetensorsRaw(
  indexPath: FilePath,
): Promise<{ metadata: Readonly<Record<string, unknown>> | null; tensors: Map<string, SafetensorsEntry> }> {
  const index = await readIndex(toPath(indexPath));
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [shard, names] of index.shards) {
    const parsed = await readSafetensorsFileRaw(shard);
    for (const [name, entry] of pick(parsed.tensors, shard, { names, indexPath: index.path })) tensors.set(name, entry);
  }
  return { metadata: index.metadata, tensors };
}

/** Loads a sharded checkpoint's tensors, one shard in memory at a time. */
export async function readShardedSafetensors(
  indexPath: FilePath,
  options: ReadSafetensorsFileOptions = {},
): Promise<Record<string, Tensor>> {
  const index = await readIndex(toPath(indexPath));
  const out: Record<string, Tensor> = {};
  try {
    for (const [shard, names] of index.shards) {
      const tensors = await loadTensors(shard, options, { names, indexPath: index.path });
      for (const [name, t] of Object.entries(tensors)) setTensor(out, name, t);
    }
  } catch (error) {
    for (const t of Object.values(out)) t.dispose();
    throw error;
  }
  return out;
}

/**
 * The tensors of a checkpoint folder as people download it: through `model.safetensors.index.json`
 * when there is one, else from `model.safetensors`.
 */
export async function readSafetensorsCheckpoint(
  directory: FilePath,
  options: ReadSafetensorsFileOptions = {},
): Promise<Record<string, Tensor>> {
  const dir = toPath(directory);
  const index = join(dir, SAFETENSORS_INDEX_FILE);
  const sharded = await stat(index).then(
    (s) => s.isFile(),
    () => false,
  );
  return sharded ? readShardedSafetensors(index, options) : readSafetensorsFile(join(dir, SAFETENSORS_FILE), options);
}

interface ShardIndex {
  path: string;
  metadata: Readonly<Record<string, unknown>> | null;
  /** Shard path -> the tensor names weight_map puts there, in first-mention order. */
  shards: Map<string, string[]>;
}

async function readIndex(path: string): Promise<ShardIndex> {
  const fail = (problem: string, key?: string) => new SafetensorsError("index", { source: path, key }, problem);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw fail(`expected a JSON index, found invalid JSON (${error.message})`);
  }
  const { weight_map: weightMap, metadata } = (typeof json === "object" && json !== null ? json : {}) as Record<
    string,
    unknown
  >;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw fail(
      `expected an object with a "weight_map" of tensor name -> shard file, found ${JSON.stringify(json)?.slice(0, 80)}`,
    );
  }
  const shards = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap)) {
    // Shards sit next to the index; a path that leaves the folder is a broken (or hostile) index.
    if (typeof shard !== "string" || shard === "" || isAbsolute(shard) || normalize(shard).startsWith("..")) {
      throw fail(`expected a shard file name in the index's folder, found ${JSON.stringify(shard)}`, name);
    }
    const shardPath = join(dirname(path), shard);
    const names = shards.get(shardPath);
    if (names) names.push(name);
    else shards.set(shardPath, [name]);
  }
  const meta =
    typeof metadata === "object" && metadata !== null && !Array.isArray(metadata)
      ? (metadata as Record<string, unknown>)
      : null;
  return { path, metadata: meta, shards };
}
