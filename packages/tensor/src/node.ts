/**
 * `@llm/tensor/node`: safetensors files on disk. A separate entry point so that browser bundles of
 * `@llm/tensor` never import `fs`.
 */
import { randomBytes } from "node:crypto";
import { open, readFile, rename, stat, unlink } from "node:fs/promises";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import {
  loadSafetensors,
  parseSafetensors,
  SafetensorsError,
  saveSafetensors,
  serializeSafetensors,
  tensorsFromParsed,
  type LoadSafetensorsOptions,
  type ParsedSafetensors,
  type SafetensorsEntry,
  type SerializableTensors,
} from "./safetensors/index.js";
import type { Tensor } from "./tensor.js";

export type FilePath = string | URL;
export type ReadSafetensorsFileOptions = Omit<LoadSafetensorsOptions, "source">;
type Metadata = Readonly<Record<string, string>> | null;

const toPath = (path: FilePath): string => (typeof path === "string" ? path : fileURLToPath(path));

/** The whole file in one read, as a plain Uint8Array (tensor bytes will be views of it). */
async function readBytes(path: string): Promise<Uint8Array> {
  const buffer = await readFile(path);
  return new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
}

/** Parses a safetensors file; errors name the file. */
export async function readSafetensorsFileRaw(path: FilePath): Promise<ParsedSafetensors> {
  const file = toPath(path);
  return parseSafetensors(await readBytes(file), { source: file });
}

/** Loads every tensor of a safetensors file (see `loadSafetensors` for the dtype rules). */
export async function readSafetensorsFile(
  path: FilePath,
  options: ReadSafetensorsFileOptions = {},
): Promise<Record<string, Tensor>> {
  const file = toPath(path);
  return loadSafetensors(await readBytes(file), { ...options, source: file });
}

/** Writes tensors as a safetensors file, atomically (readers see the old file or the new one). */
export async function writeSafetensorsFile(
  path: FilePath,
  tensors: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>,
  metadata?: Metadata,
): Promise<void> {
  await writeFileAtomic(toPath(path), await saveSafetensors(tensors, metadata));
}

/** Writes raw entries (dtype, shape, bytes) as a safetensors file, atomically. */
export async function writeSafetensorsFileRaw(path: FilePath, tensors: SerializableTensors, metadata?: Metadata): Promise<void> {
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

export const SAFETENSORS_INDEX_FILE = "model.safetensors.index.json";
export const SAFETENSORS_FILE = "model.safetensors";

/**
 * Reads a sharded checkpoint through its `model.safetensors.index.json`: every tensor named in
 * `weight_map`, from the shard it names (each shard is read once). `metadata` is the index's.
 * Tensor bytes are views of the shards' buffers.
 */
export async function readShardedSafetensorsRaw(
  indexPath: FilePath,
): Promise<{ metadata: Readonly<Record<string, unknown>> | null; tensors: Map<string, SafetensorsEntry> }> {
  const { index, shards } = await readIndex(toPath(indexPath));
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [shard, names] of shards) {
    const parsed = await readSafetensorsFileRaw(shard);
    for (const [name, entry] of pickFromShard(parsed, names, shard, index.path)) tensors.set(name, entry);
  }
  return { metadata: index.metadata, tensors };
}

/** Loads a sharded checkpoint's tensors, one shard in memory at a time. */
export async function readShardedSafetensors(
  indexPath: FilePath,
  options: ReadSafetensorsFileOptions = {},
): Promise<Record<string, Tensor>> {
  const { index, shards } = await readIndex(toPath(indexPath));
  const out: Record<string, Tensor> = {};
  try {
    for (const [shard, names] of shards) {
      const parsed = await readSafetensorsFileRaw(shard);
      const picked = { metadata: parsed.metadata, tensors: pickFromShard(parsed, names, shard, index.path) };
      Object.assign(out, tensorsFromParsed(picked, { ...options, source: shard }));
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
}

/** Parses and checks the index; groups tensor names by shard path, in first-mention order. */
async function readIndex(path: string): Promise<{ index: ShardIndex; shards: Map<string, string[]> }> {
  const fail = (problem: string, key?: string) => new SafetensorsError("index", { source: path, key }, problem);
  let json: unknown;
  try {
    json = JSON.parse(await readFile(path, "utf8"));
  } catch (error) {
    if (!(error instanceof SyntaxError)) throw error;
    throw fail(`expected a JSON index, found invalid JSON (${error.message})`);
  }
  const weightMap = typeof json === "object" && json !== null ? (json as { weight_map?: unknown }).weight_map : undefined;
  if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
    throw fail(`expected an object with a "weight_map" of tensor name -> shard file, found ${JSON.stringify(json)?.slice(0, 80)}`);
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
  const metadata = (json as { metadata?: unknown }).metadata;
  const index = { path, metadata: typeof metadata === "object" && metadata !== null ? (metadata as Record<string, unknown>) : null };
  return { index, shards };
}

function pickFromShard(parsed: ParsedSafetensors, names: string[], shard: string, indexPath: string): Map<string, SafetensorsEntry> {
  const picked = new Map<string, SafetensorsEntry>();
  for (const name of names) {
    const entry = parsed.tensors.get(name);
    if (!entry) {
      throw new SafetensorsError("index", { source: indexPath, key: name }, `expected the tensor in shard ${shard} (as weight_map says), found no such tensor there`);
    }
    picked.set(name, entry);
  }
  return picked;
}
