/**
 * `@llm/tensor/node`: safetensors files on disk. A separate entry point so that browser bundles of
 * `@llm/tensor` never import `fs`.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, readFile, rename, stat, unlink, type FileHandle } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
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
import { BYTES_PER_ELEMENT } from "./dtype.js";
import { GGUF_DEFAULT_ALIGNMENT, GGUFError, type GGUFValue } from "./gguf/types.js";
import { ggufHeader, type GGUFTensorData } from "./gguf/write.js";
import { openGGUF, type GGUFFile } from "./gguf/read.js";
import {
  CheckpointFileError,
  CONFIG_FILE,
  configJson,
  parseShardIndex,
  planShards,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  shardFileName,
  type CheckpointFiles,
} from "./checkpoint/index.js";
import { fsyncFolder } from "./node/atomic_folder.js";

export { writeFolderAtomically, recoverFolder, fsyncFolder, type FolderRecovery } from "./node/atomic_folder.js";
export {
  CONFIG_FILE,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  openCheckpoint,
  Checkpoint,
  type CheckpointFiles,
} from "./checkpoint/index.js";

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

const toPath = (path: FilePath): string => (typeof path === "string" ? path : fileURLToPath(path));

// ---- reading one file ----

/** Parses a safetensors file read whole (one readFile); tensor bytes are views of it. Errors name the file. */
export async function readSafetensorsFileRaw(path: FilePath): Promise<ParsedSafetensors> {
  const file = toPath(path);
  const buffer = await readFile(file);
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), { source: file });
}

/** Loads every tensor of a safetensors file (dtype rules as `loadSafetensors`). */
export async function readSafetensorsFile(path: FilePath, options: ReadSafetensorsFileOptions = {}): Promise<Record<string, Tensor>> {
  return loadTensors(toPath(path), options);
}

/** The tensors a shard must hold, and the index that says so (named when one is missing). */
interface Wanted {
  names: readonly string[];
  indexPath: string;
}

/** Loads all tensors of a file, or only the wanted ones; frees what it made if anything fails. */
async function loadTensors(file: string, options: ReadSafetensorsFileOptions, wanted?: Wanted): Promise<Record<string, Tensor>> {
  const { maxWholeFileBytes = DEFAULT_MAX_WHOLE_FILE_BYTES, ...rest } = options;
  const load = { ...rest, source: file };
  const out: Record<string, Tensor> = {};
  try {
    if ((await stat(file)).size <= maxWholeFileBytes) {
      const { tensors } = await readSafetensorsFileRaw(file);
      for (const [name, entry] of pick(tensors, file, wanted)) setTensor(out, name, tensorFromSafetensorsEntry(name, entry, load));
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

/** Exactly `length` bytes at `position`. */
async function readAt(handle: FileHandle, position: number, length: number, file: string): Promise<Uint8Array> {
  return readFully(handle, new Uint8Array(length), position, file);
}

/** Fills `out` from `position` on (a read may return less; each call stays under 2 GiB). */
async function readFully(handle: FileHandle, out: Uint8Array, position: number, file: string): Promise<Uint8Array> {
  const length = out.byteLength;
  for (let done = 0; done < length; ) {
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
export async function writeSafetensorsFileRaw(path: FilePath, tensors: SafetensorsRawTensors, metadata?: Metadata): Promise<void> {
  await writeFileAtomic(toPath(path), serializeSafetensors(tensors, metadata));
}

/**
 * Writes to a fresh temporary name in the same directory, flushes it to disk, then renames it over
 * `path` and flushes the directory: rename within a directory is atomic, so a crash never leaves a
 * half-written file, and once this returns the new file survives a power cut.
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
    await fsyncFolder(dirname(path));
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
  if (sharded) return readShardedSafetensors(index, options);
  const single = join(dir, SAFETENSORS_FILE);
  const exists = await stat(single).then(
    (x) => x.isFile(),
    () => false,
  );
  if (!exists)
    throw new CheckpointFileError("no-weights", `${dir}: expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}, found neither`);
  return readSafetensorsFile(single, options);
}

interface ShardPaths {
  path: string;
  metadata: Readonly<Record<string, unknown>> | null;
  /** Shard path -> the tensor names weight_map puts there. */
  shards: Map<string, string[]>;
}

async function readIndex(path: string): Promise<ShardPaths> {
  const { shards, metadata } = parseShardIndex(await readFile(path), path);
  return { path, metadata, shards: new Map([...shards].map(([shard, names]) => [join(dirname(path), shard), names])) };
}

// ---- checkpoint folders ----

/** A checkpoint folder on disk as CheckpointFiles: what openCheckpoint (and loadModel) read. */
export function checkpointFolder(directory: FilePath): CheckpointFiles {
  const dir = toPath(directory);
  return {
    location: dir,
    async size(name) {
      try {
        const s = await stat(join(dir, name));
        return s.isFile() ? s.size : null;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === "ENOENT" || (error as NodeJS.ErrnoException).code === "ENOTDIR") return null;
        throw error;
      }
    },
    async readInto(name, position, target) {
      const file = join(dir, name);
      const handle = await open(file, "r");
      try {
        await readFully(handle, target, position, file);
      } finally {
        await handle.close();
      }
    },
  };
}

/** What a checkpoint folder holds: config.json's contents and the weights by name. */
export interface CheckpointFolderContents {
  readonly config: Readonly<Record<string, unknown>>;
  readonly tensors: Readonly<Record<string, Tensor>>;
  /** Config keys (dotted paths) written as floats even when whole, 30.0 not 30 (see configJson). */
  readonly floatKeys?: readonly string[];
}

export interface WriteCheckpointFolderOptions {
  /** Shards of at most this many bytes (default 5e9, transformers' "5GB"); one file when all fit. */
  maxShardBytes?: number;
  /** The weight files' __metadata__ (default { format: "pt" }, without which transformers refuses them). */
  metadata?: Readonly<Record<string, string>>;
}

/**
 * Writes a checkpoint folder in the Hugging Face layout: config.json and model.safetensors, or
 * shards named as transformers names them with their model.safetensors.index.json. Each file is
 * written atomically; files of the other layout left by an earlier save are removed, so the
 * folder never holds two versions. (To replace a whole folder atomically, write it inside
 * `writeFolderAtomically`, as @llm/train's checkpoints do.)
 */
export async function writeCheckpointFolder(
  directory: FilePath,
  contents: CheckpointFolderContents,
  options: WriteCheckpointFolderOptions = {},
): Promise<void> {
  const dir = toPath(directory);
  await mkdir(dir, { recursive: true });
  const metadata = options.metadata ?? { format: "pt" };
  const entries = Object.entries(contents.tensors);
  const sizes = entries.map(([name, t]) => [name, t.size * BYTES_PER_ELEMENT[t.dtype]] as const);
  const shards = planShards(sizes, options.maxShardBytes);
  const written = new Set<string>();
  if (shards.length === 1) {
    await writeSafetensorsFile(join(dir, SAFETENSORS_FILE), contents.tensors, metadata);
    written.add(SAFETENSORS_FILE);
  } else {
    const weightMap: Record<string, string> = {};
    for (const [i, names] of shards.entries()) {
      const file = shardFileName(i, shards.length);
      await writeSafetensorsFile(join(dir, file), new Map(names.map((n) => [n, contents.tensors[n]!])), metadata);
      for (const n of names) weightMap[n] = file;
      written.add(file);
    }
    const totalSize = sizes.reduce((n, [, size]) => n + size, 0);
    await writeFileAtomic(
      join(dir, SAFETENSORS_INDEX_FILE),
      utf8(`${JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2)}\n`),
    );
    written.add(SAFETENSORS_INDEX_FILE);
  }
  await writeFileAtomic(join(dir, CONFIG_FILE), utf8(configJson(contents.config, contents.floatKeys)));
  for (const name of await readdir(dir)) {
    const stale = name === SAFETENSORS_FILE || name === SAFETENSORS_INDEX_FILE || /^model-\d{5}-of-\d{5}\.safetensors$/.test(name);
    if ((stale && !written.has(name)) || isDeadTempFile(name)) await unlink(join(dir, name)).catch(() => undefined);
  }
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

// ---- GGUF files ----

/** A GGUF file on disk, opened (header read, no tensor data yet). */
export function openGGUFFile(path: FilePath): Promise<GGUFFile> {
  const p = toPath(path);
  return openGGUF(checkpointFolder(dirname(p)), basename(p));
}

/**
 * Writes a GGUF file: header, then each tensor's bytes read one tensor at a time (so writing a
 * large model adds one tensor's bytes to memory at most), to a temporary name renamed over `path`.
 */
export async function writeGGUFFile(
  path: FilePath,
  metadata: ReadonlyMap<string, GGUFValue>,
  tensors: readonly GGUFTensorData[],
  alignment?: number,
): Promise<void> {
  const p = toPath(path);
  const { header, offsets } = ggufHeader(metadata, tensors, alignment);
  const temp = join(dirname(p), `.${basename(p)}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`);
  try {
    const handle = await open(temp, "wx");
    try {
      await handle.write(header, 0, header.length, 0);
      let end = header.length;
      for (let i = 0; i < tensors.length; i++) {
        const t = tensors[i]!;
        const bytes = await t.bytes();
        if (bytes.length !== t.byteLength)
          throw new GGUFError(`${p}: tensor "${t.name}": expected ${t.byteLength} bytes, found ${bytes.length}`);
        await handle.write(bytes, 0, bytes.length, header.length + offsets[i]!);
        end = header.length + offsets[i]! + bytes.length;
      }
      // the data section ends padded to the alignment, as gguf-py writes it
      const padded = tensors.length
        ? header.length + Math.ceil((end - header.length) / (alignment ?? GGUF_DEFAULT_ALIGNMENT)) * (alignment ?? GGUF_DEFAULT_ALIGNMENT)
        : end;
      await handle.truncate(padded);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, p);
  } catch (error) {
    await unlink(temp).catch(() => undefined);
    throw error;
  }
}

/** A temporary file of writeFileAtomic whose writer died before renaming it (the pid is in its name). */
function isDeadTempFile(name: string): boolean {
  const match = /^\..+\.(\d+)\.[0-9a-f]{12}\.tmp$/.exec(name);
  if (!match) return false;
  const pid = Number(match[1]);
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH";
  }
}
