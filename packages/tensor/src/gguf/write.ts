import { BYTES_PER_ELEMENT, isQuantized, type DType } from "../dtype.js";
import type { Tensor } from "../tensor.js";
import { DTYPE_TO_GGML_TYPE, GGUF_DEFAULT_ALIGNMENT, GGUF_MAGIC, GGUF_TYPE_IDS, GGUFError, type GGUFValue } from "./types.js";

/** A tensor laid out for a GGUF file: ggml dims (innermost first), type, and its bytes in that order. */
export interface GGUFTensorData {
  readonly name: string;
  readonly dims: readonly number[];
  readonly dtype: DType;
  readonly byteLength: number;
  /** The bytes, read when the writer reaches this tensor (so a large model is read one tensor at a time). */
  bytes(): Promise<Uint8Array>;
}

/**
 * A tensor as GGUF stores it: its storage order decides ggml's dims (a quantized weight is stored
 * by rows of its blocked axis, whatever view the tensor is), its bytes are read as stored. A
 * float tensor must be laid out as the file wants it (contiguous, or a permutation of contiguous).
 */
export function ggufTensor(name: string, t: Tensor): GGUFTensorData {
  if (DTYPE_TO_GGML_TYPE[t.dtype] === undefined) throw new GGUFError(`GGUF: tensor "${name}": ${t.dtype} has no GGUF type`);
  // blocks are read in storage order (any permutation of a dense layout); other dtypes row-major
  const axes = isQuantized(t.dtype)
    ? [...t.shape.keys()].sort((a, b) => t.strides[a]! - t.strides[b]! || b - a)
    : [...t.shape.keys()].reverse();
  let step = 1;
  for (const a of axes) {
    if (t.shape[a]! > 1 && t.strides[a] !== step) {
      throw new GGUFError(
        `GGUF: tensor "${name}": expected a contiguous tensor, found shape [${t.shape}] strides [${t.strides}]; make it contiguous first`,
      );
    }
    step *= t.shape[a]!;
  }
  if (t.offset !== 0)
    throw new GGUFError(`GGUF: tensor "${name}": expected a whole tensor, found a view at offset ${t.offset}; make it contiguous first`);
  const dims = axes.map((a) => t.shape[a]!);
  return {
    name,
    dims: dims.length ? dims : [1],
    dtype: t.dtype,
    byteLength: Math.round(t.size * BYTES_PER_ELEMENT[t.dtype]),
    async bytes() {
      const data = await t.data();
      // whole storage read back: a view at an offset or a slice is made contiguous by data()
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    },
  };
}

const encoder = new TextEncoder();

class ByteSink {
  private chunks: Uint8Array[] = [];
  private current = new Uint8Array(1 << 16);
  private view = new DataView(this.current.buffer);
  private at = 0;
  length = 0;
  /** Where n more bytes go in `current` (a fresh chunk when they do not fit). */
  private room(n: number): number {
    if (this.at + n > this.current.length) {
      this.chunks.push(this.current.subarray(0, this.at));
      this.current = new Uint8Array(Math.max(1 << 16, n));
      this.view = new DataView(this.current.buffer);
      this.at = 0;
    }
    const at = this.at;
    this.at += n;
    this.length += n;
    return at;
  }
  // room() may start a new chunk and view: each writer calls it before reading this.view / this.current
  u8(v: number): void {
    const at = this.room(1);
    this.view.setUint8(at, v);
  }
  i8(v: number): void {
    const at = this.room(1);
    this.view.setInt8(at, v);
  }
  u16(v: number): void {
    const at = this.room(2);
    this.view.setUint16(at, v, true);
  }
  i16(v: number): void {
    const at = this.room(2);
    this.view.setInt16(at, v, true);
  }
  u32(v: number): void {
    const at = this.room(4);
    this.view.setUint32(at, v, true);
  }
  i32(v: number): void {
    const at = this.room(4);
    this.view.setInt32(at, v, true);
  }
  u64(v: number): void {
    const at = this.room(8);
    this.view.setBigUint64(at, BigInt(v), true);
  }
  i64(v: number): void {
    const at = this.room(8);
    this.view.setBigInt64(at, BigInt(v), true);
  }
  f32(v: number): void {
    const at = this.room(4);
    this.view.setFloat32(at, v, true);
  }
  f64(v: number): void {
    const at = this.room(8);
    this.view.setFloat64(at, v, true);
  }
  str(s: string): void {
    const b = encoder.encode(s);
    this.u64(b.length);
    const at = this.room(b.length);
    this.current.set(b, at);
  }
  bytes(): Uint8Array {
    const all = new Uint8Array(this.length);
    let o = 0;
    for (const c of [...this.chunks, this.current.subarray(0, this.at)]) {
      all.set(c, o);
      o += c.length;
    }
    return all;
  }
}

const SCALAR_WRITERS: Record<string, (sink: ByteSink, v: number) => void> = {
  uint8: (s, v) => s.u8(v),
  int8: (s, v) => s.i8(v),
  uint16: (s, v) => s.u16(v),
  int16: (s, v) => s.i16(v),
  uint32: (s, v) => s.u32(v),
  int32: (s, v) => s.i32(v),
  float32: (s, v) => s.f32(v),
  uint64: (s, v) => s.u64(v),
  int64: (s, v) => s.i64(v),
  float64: (s, v) => s.f64(v),
};

function writeScalar(sink: ByteSink, type: string, value: number | string | boolean, key: string): void {
  if (type === "string") {
    if (typeof value !== "string") throw new GGUFError(`GGUF: metadata "${key}": expected a string, found ${typeof value}`);
    sink.str(value);
  } else if (type === "bool") {
    sink.u8(value ? 1 : 0);
  } else {
    const write = SCALAR_WRITERS[type];
    if (!write) throw new GGUFError(`GGUF: metadata "${key}": unknown type ${type}`);
    if (typeof value !== "number" || (!Number.isFinite(value) && !type.startsWith("float"))) {
      throw new GGUFError(`GGUF: metadata "${key}": expected a number for ${type}, found ${String(value)}`);
    }
    write(sink, value);
  }
}

/**
 * The GGUF v3 header for `metadata` and `tensors` (padded to the alignment), and where each
 * tensor's data goes after it. general.alignment is written when it is not the default.
 */
export function ggufHeader(
  metadata: ReadonlyMap<string, GGUFValue>,
  tensors: readonly GGUFTensorData[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): { header: Uint8Array; offsets: number[]; dataLength: number } {
  const sink = new ByteSink();
  const entries = [...metadata];
  if (alignment !== GGUF_DEFAULT_ALIGNMENT && !metadata.has("general.alignment"))
    entries.push(["general.alignment", { type: "uint32", value: alignment }]);
  sink.u32(GGUF_MAGIC);
  sink.u32(3);
  sink.u64(tensors.length);
  sink.u64(entries.length);
  for (const [key, v] of entries) {
    sink.str(key);
    sink.u32(GGUF_TYPE_IDS[v.type]);
    if (v.type === "array") {
      sink.u32(GGUF_TYPE_IDS[v.itemType]);
      sink.u64(v.value.length);
      for (const item of v.value) writeScalar(sink, v.itemType, item, key);
    } else {
      writeScalar(sink, v.type, v.value, key);
    }
  }
  const offsets: number[] = [];
  let offset = 0;
  for (const t of tensors) {
    sink.str(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(DTYPE_TO_GGML_TYPE[t.dtype]!);
    sink.u64(offset);
    offsets.push(offset);
    offset = Math.ceil((offset + t.byteLength) / alignment) * alignment;
  }
  const pad = (alignment - (sink.length % alignment)) % alignment;
  for (let i = 0; i < pad; i++) sink.u8(0);
  return { header: sink.bytes(), offsets, dataLength: offset };
}

/** A whole GGUF file in memory (small models, browsers); @llm/tensor/node's writeGGUFFile streams to disk. */
export async function serializeGGUF(
  metadata: ReadonlyMap<string, GGUFValue>,
  tensors: readonly GGUFTensorData[],
  alignment = GGUF_DEFAULT_ALIGNMENT,
): Promise<Uint8Array> {
  const { header, offsets, dataLength } = ggufHeader(metadata, tensors, alignment);
  const out = new Uint8Array(header.length + dataLength);
  out.set(header);
  for (let i = 0; i < tensors.length; i++) {
    const bytes = await tensors[i]!.bytes();
    if (bytes.length !== tensors[i]!.byteLength)
      throw new GGUFError(`GGUF: tensor "${tensors[i]!.name}": expected ${tensors[i]!.byteLength} bytes, found ${bytes.length}`);
    out.set(bytes, header.length + offsets[i]!);
  }
  return out;
}
