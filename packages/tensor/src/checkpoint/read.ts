import type { Backend } from "../backend.js";
import { BYTES_PER_ELEMENT, type DType } from "../dtype.js";
import { getBackend } from "../engine.js";
import { fromBuffer } from "../ops/core.js";
import { safetensorsEntryToHost, type SafetensorsHostData } from "../safetensors/convert.js";
import { widenHalvesInPlace } from "../safetensors/halves.js";
import type { SafetensorsDType } from "../safetensors/dtypes.js";
import { SafetensorsError } from "../safetensors/errors.js";
import { parseSafetensorsLayout, readSafetensorsHeaderLength } from "../safetensors/layout.js";
import type { Tensor } from "../tensor.js";
import {
  CheckpointFileError,
  CONFIG_FILE,
  readWholeFile,
  SAFETENSORS_FILE,
  SAFETENSORS_INDEX_FILE,
  type CheckpointFiles,
} from "./files.js";
import { parseShardIndex } from "./shards.js";
import { jsonDepth, previewJson } from "../preview.js";

/** How deep config.json may nest. */
export const MAX_CONFIG_DEPTH = 32;

/** Safetensors dtypes whose bytes are already our dtype's array (F16/BF16 unless widened, see readHost). */
const SAME_DTYPE: Partial<Record<SafetensorsDType, DType>> = { F32: "float32", I32: "int32", F16: "float16", BF16: "bfloat16" };

/** Where one tensor of a checkpoint is: its file and the byte range of its data. */
export interface CheckpointTensorInfo {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly file: string;
  /** Byte offsets in the file (not relative to the data start). */
  readonly begin: number;
  readonly end: number;
}

export interface ReadTensorOptions {
  /** "float32" widens F16/BF16 (as safetensors' loaders do); default: halves stay half. */
  dtype?: "float32";
  /** Where the tensor goes (default: the current backend). */
  backend?: Backend;
  /**
   * Refuse a floating-point tensor holding NaN or an infinity (a SafetensorsError naming the
   * tensor and the first bad element). One pass over the values while they are on the host
   * anyway, before they go to the backend. Default: no check.
   */
  checkFinite?: boolean;
}

/**
 * An opened checkpoint folder: config.json read, every weight file's header read and checked,
 * no tensor data read yet. Tensors are then read one at a time, each straight into the array that
 * holds it, so loading a model needs no second copy of any weight.
 */
export class Checkpoint {
  constructor(
    readonly files: CheckpointFiles,
    readonly config: Record<string, unknown>,
    /** Every tensor by name, in file and data order. */
    readonly tensors: ReadonlyMap<string, CheckpointTensorInfo>,
    /** The weight files' `__metadata__` (the index's "metadata" for sharded checkpoints). */
    readonly metadata: Readonly<Record<string, unknown>> | null,
  ) {}

  get location(): string {
    return this.files.location;
  }

  /** Reads one tensor's bytes into a fresh array and hands it to the backend. */
  async readTensor(name: string, options: ReadTensorOptions = {}): Promise<Tensor> {
    const info = this.tensors.get(name);
    if (!info)
      throw new SafetensorsError(
        "argument",
        { source: this.location, key: name },
        "expected a tensor of this checkpoint, found no such name",
      );
    const backend = options.backend ?? getBackend();
    const host = await this.readHost(name, info, options, backend);
    if (options.checkFinite && (host.dtype === "float32" || host.dtype === "float16" || host.dtype === "bfloat16"))
      checkFiniteValues(host, info, `${this.location}/${info.file}`, name);
    // the array is ours alone (a fresh read, or a fresh conversion of one): the backend may keep it
    const buffer = backend.adopt ? backend.adopt(host.data, host.dtype) : backend.upload(host.data, host.dtype);
    return fromBuffer(backend, buffer, info.shape, host.dtype as DType);
  }

  private async readHost(
    name: string,
    info: CheckpointTensorInfo,
    options: ReadTensorOptions,
    backend: Backend,
  ): Promise<SafetensorsHostData> {
    if (options.dtype === "float32" && (info.dtype === "F16" || info.dtype === "BF16")) {
      // read the halves into the upper half of the float32 array and widen them in place
      const size = (info.end - info.begin) / 2;
      const out = (backend.allocateHost?.("float32", size) as Float32Array | undefined) ?? new Float32Array(size);
      await this.files.readInto(info.file, info.begin, new Uint8Array(out.buffer, out.byteOffset + out.byteLength / 2, out.byteLength / 2));
      widenHalvesInPlace(out, info.dtype);
      return { dtype: "float32", data: out };
    }
    // Stored as the backend keeps it: read straight into the backend's own array.
    const same = SAME_DTYPE[info.dtype];
    if (same !== undefined && backend.allocateHost) {
      const data = backend.allocateHost(same, (info.end - info.begin) / BYTES_PER_ELEMENT[same]);
      await this.files.readInto(info.file, info.begin, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return { dtype: same, data };
    }
    const bytes = new Uint8Array(info.end - info.begin);
    await this.files.readInto(info.file, info.begin, bytes);
    const source = `${this.location}/${info.file}`;
    return safetensorsEntryToHost({ dtype: info.dtype, shape: info.shape, bytes }, { dtype: options.dtype, source, key: name });
  }

  /** Every tensor (or those named), read one after another. */
  async readAll(options: ReadTensorOptions = {}, names: Iterable<string> = this.tensors.keys()): Promise<Record<string, Tensor>> {
    const out: Record<string, Tensor> = {};
    try {
      for (const name of names)
        Object.defineProperty(out, name, {
          value: await this.readTensor(name, options),
          enumerable: true,
          writable: true,
          configurable: true,
        });
    } catch (error) {
      for (const t of Object.values(out)) t.dispose();
      throw error;
    }
    return out;
  }
}

/**
 * Opens a checkpoint folder as people download it: config.json (or the one given, already read
 * and checked), and the weights in model.safetensors or in the shards model.safetensors.index.json lists.
 */
export async function openCheckpoint(files: CheckpointFiles, config?: Record<string, unknown>): Promise<Checkpoint> {
  config ??= await readCheckpointConfig(files);
  const index = await readWholeFile(files, SAFETENSORS_INDEX_FILE);
  if (index) {
    const { shards, metadata } = parseShardIndex(index, `${files.location}/${SAFETENSORS_INDEX_FILE}`);
    const tensors = new Map<string, CheckpointTensorInfo>();
    for (const [file, names] of shards) {
      const layout = await readLayout(files, file);
      for (const name of names) {
        const info = layout.get(name);
        if (!info) {
          throw new SafetensorsError(
            "index",
            { source: `${files.location}/${SAFETENSORS_INDEX_FILE}`, key: name },
            `expected the tensor in shard ${file} (as weight_map says), found no such tensor there`,
          );
        }
        tensors.set(name, info);
      }
    }
    return new Checkpoint(files, config, tensors, metadata);
  }
  if ((await files.size(SAFETENSORS_FILE)) === null) {
    throw new CheckpointFileError(
      "no-weights",
      `${files.location}: expected ${SAFETENSORS_FILE} or ${SAFETENSORS_INDEX_FILE}, found neither`,
    );
  }
  const { tensors, metadata } = await readLayoutWithMetadata(files, SAFETENSORS_FILE);
  return new Checkpoint(files, config, tensors, metadata);
}

/** config.json of a checkpoint folder, parsed; a clear error when it is missing or not a JSON object. */
export async function readCheckpointConfig(files: CheckpointFiles): Promise<Record<string, unknown>> {
  const bytes = await readWholeFile(files, CONFIG_FILE);
  const path = `${files.location}/${CONFIG_FILE}`;
  if (!bytes) throw new CheckpointFileError("no-config", `${files.location}: expected a ${CONFIG_FILE}, found none`);
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(bytes));
  } catch (error) {
    throw new CheckpointFileError("bad-config", `${path}: expected JSON, found a parse error (${(error as Error).message})`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new CheckpointFileError("bad-config", `${path}: expected a JSON object, found ${previewJson(config, 60)}`);
  }
  // configs nest two or three levels; thousands would overflow whatever recurses over them later (saving it, for one)
  if (jsonDepth(config, MAX_CONFIG_DEPTH) > MAX_CONFIG_DEPTH) {
    throw new CheckpointFileError(
      "bad-config",
      `${path}: expected JSON nested at most ${MAX_CONFIG_DEPTH} levels deep, found deeper nesting`,
    );
  }
  return config as Record<string, unknown>;
}

async function readLayout(files: CheckpointFiles, file: string): Promise<Map<string, CheckpointTensorInfo>> {
  return (await readLayoutWithMetadata(files, file)).tensors;
}

/** A safetensors file's header, read without its data: 8 bytes of length, then the header. */
async function readLayoutWithMetadata(
  files: CheckpointFiles,
  file: string,
): Promise<{ tensors: Map<string, CheckpointTensorInfo>; metadata: Record<string, string> | null }> {
  const source = `${files.location}/${file}`;
  const size = await files.size(file);
  if (size === null) throw new CheckpointFileError("no-weights", `${source}: expected a safetensors file, found none`);
  const prefix = new Uint8Array(Math.min(8, size));
  await files.readInto(file, 0, prefix);
  const headerLength = readSafetensorsHeaderLength(prefix, size, { source });
  const head = new Uint8Array(8 + headerLength);
  await files.readInto(file, 0, head);
  const layout = parseSafetensorsLayout(head, size, { source });
  const tensors = new Map<string, CheckpointTensorInfo>();
  for (const [name, e] of layout.tensors) {
    tensors.set(name, { dtype: e.dtype, shape: e.shape, file, begin: layout.dataStart + e.begin, end: layout.dataStart + e.end });
  }
  return { tensors, metadata: layout.metadata };
}

/** Throws on the first NaN or infinity of a float tensor's host values (halves checked by their bits). */
function checkFiniteValues(host: SafetensorsHostData, info: CheckpointTensorInfo, source: string, key: string): void {
  const at =
    host.dtype === "float32" ? firstNonFinite(host.data as Float32Array) : firstNonFiniteHalf(host.data as Uint16Array, host.dtype);
  if (at < 0) return;
  const value = host.dtype === "float32" ? (host.data as Float32Array)[at]! : "NaN or an infinity";
  throw new SafetensorsError(
    "value-range",
    { source, key },
    `expected finite values, found ${String(value)} at element ${at} (index [${unravel(at, info.shape).join(",")}] of shape [${info.shape.join(",")}])`,
  );
}

function firstNonFinite(data: Float32Array): number {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    // NaN - NaN and Inf - Inf are NaN; every finite value gives 0
    if (v - v !== 0) return i;
  }
  return -1;
}

/** float16: exponent bits 0x7c00 all set; bfloat16: 0x7f80. */
function firstNonFiniteHalf(bits: Uint16Array, dtype: string): number {
  const mask = dtype === "float16" ? 0x7c00 : 0x7f80;
  for (let i = 0; i < bits.length; i++) if ((bits[i]! & mask) === mask) return i;
  return -1;
}

function unravel(index: number, shape: readonly number[]): number[] {
  const out = new Array<number>(shape.length).fill(0);
  for (let d = shape.length - 1; d >= 0; d--) {
    const n = shape[d]!;
    out[d] = n === 0 ? 0 : index % n;
    index = n === 0 ? index : Math.floor(index / n);
  }
  return out;
}
