import type { Backend } from "../backend.js";
import type { CheckpointFiles } from "../checkpoint/files.js";
import { QUANT_BLOCKS, isQuantized, type DType, hostLength } from "../dtype.js";
import { getBackend } from "../engine.js";
import { fromBuffer } from "../ops/core.js";
import type { Tensor } from "../tensor.js";
import { NeedMoreBytes, parseGGUFHeader, type GGUFHeader } from "./parse.js";
import { GGML_TYPE_NAMES, GGML_TYPE_TO_DTYPE, GGUFError } from "./types.js";

/** The tensor types we read, by GGUF's names, in ggml_type order. */
const READ_TYPES = Object.keys(GGML_TYPE_TO_DTYPE).map((id) => GGML_TYPE_NAMES[Number(id)]!);

/** One tensor of a GGUF file: its type, our shape (outermost first) and where its bytes are. */
export interface GGUFTensorInfo {
  readonly name: string;
  /** ggml's type name (F32, F16, Q4_0, Q6_K, ...). */
  readonly type: string;
  /** Our dtype for it; null for a type we do not read (an error when read). */
  readonly dtype: DType | null;
  /** Outermost first: ggml's ne reversed ([rows, cols] for a matrix). */
  readonly shape: readonly number[];
  /** Byte range in the file. */
  readonly begin: number;
  readonly end: number;
}

/**
 * An opened GGUF file: header and metadata read, no tensor data yet. Each tensor is then read
 * straight into the array that keeps it, in its own type (blocks stay blocks).
 */
export class GGUFFile {
  constructor(
    readonly files: CheckpointFiles,
    readonly name: string,
    readonly header: GGUFHeader,
    readonly tensors: ReadonlyMap<string, GGUFTensorInfo>,
  ) {}

  get source(): string {
    return `${this.files.location}/${this.name}`;
  }

  get metadata(): ReadonlyMap<string, unknown> {
    return this.header.metadata;
  }

  async readTensor(name: string, options: { backend?: Backend } = {}): Promise<Tensor> {
    const info = this.tensors.get(name);
    if (!info) throw new GGUFError(`${this.source}: expected a tensor named "${name}", found none`);
    if (info.dtype === null) {
      throw new GGUFError(`${this.source}: tensor "${name}" is ${info.type}, which we do not read (we read ${READ_TYPES.join(", ")})`);
    }
    const bytes = new Uint8Array(info.end - info.begin);
    await this.files.readInto(this.name, info.begin, bytes);
    const host =
      info.dtype === "float32"
        ? new Float32Array(bytes.buffer)
        : info.dtype === "int32"
          ? new Int32Array(bytes.buffer)
          : info.dtype === "float16" || info.dtype === "bfloat16"
            ? new Uint16Array(bytes.buffer)
            : bytes;
    const backend = options.backend ?? getBackend();
    const buffer = backend.adopt ? backend.adopt(host, info.dtype) : backend.upload(host, info.dtype);
    return fromBuffer(backend, buffer, info.shape, info.dtype);
  }
}

/** Opens GGUF file `name` of `files`, reading only its header (in growing chunks until it is whole). */
export async function openGGUF(files: CheckpointFiles, name: string): Promise<GGUFFile> {
  const source = `${files.location}/${name}`;
  const size = await files.size(name);
  if (size === null) throw new GGUFError(`${source}: no such file`);
  let header: GGUFHeader | null = null;
  for (let chunk = Math.min(size, 1 << 20); header === null; chunk = Math.min(size, chunk * 4)) {
    const bytes = new Uint8Array(chunk);
    await files.readInto(name, 0, bytes);
    try {
      header = parseGGUFHeader(bytes, source);
    } catch (error) {
      if (!(error instanceof NeedMoreBytes)) throw error;
      if (chunk === size) throw new GGUFError(`${source}: the file ends inside its header (${size} bytes)`);
    }
  }
  const tensors = new Map<string, GGUFTensorInfo>();
  for (const t of header.tensors) {
    const type = GGML_TYPE_NAMES[t.ggmlType]!;
    const dtype: DType | null = GGML_TYPE_TO_DTYPE[t.ggmlType] ?? null;
    const elements = t.dims.reduce((a, b) => a * b, 1);
    const blockElements = dtype && isQuantized(dtype) ? QUANT_BLOCKS[dtype].elements : 1;
    if (t.dims[0]! % blockElements !== 0) {
      throw new GGUFError(
        `${source}: tensor "${t.name}" is ${type} with rows of ${t.dims[0]} values, not whole blocks of ${blockElements}`,
      );
    }
    const bytes =
      dtype === null
        ? 0
        : dtype === "float32" || dtype === "int32"
          ? elements * 4
          : dtype === "float16" || dtype === "bfloat16"
            ? elements * 2
            : hostLength(dtype, elements);
    const begin = header.dataStart + t.offset;
    if (begin + bytes > size)
      throw new GGUFError(`${source}: tensor "${t.name}" runs past the end of the file (${begin + bytes} > ${size} bytes)`);
    if (tensors.has(t.name)) throw new GGUFError(`${source}: tensor "${t.name}" appears twice`);
    tensors.set(t.name, { name: t.name, type, dtype, shape: [...t.dims].reverse(), begin, end: begin + bytes });
  }
  return new GGUFFile(files, name, header, tensors);
}
