import { elementsOfHost, hostLength, isHalfDType, isQuantized, QUANTIZED_DTYPES, type DType, type HostArray } from "@llm/tensor";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "./half.js";

/**
 * How each dtype lives in a storage buffer:
 *  - float32 -> f32, int32 -> i32: one word per element
 *  - bool -> u32 (0 or 1; WGSL has no 8-bit storage type): one word per element
 *  - float16 / bfloat16 -> packed two to a u32 word, element 2w in the low half of word w and
 *    2w + 1 in the high half (little-endian, as a host Uint16Array viewed as Uint32Array), so a
 *    half tensor takes half the bytes of a float32 one on the GPU as on the CPU. Kernels read them
 *    by index (loadExpr: the word, shifted) and write them with two atomic bit operations
 *    (storeStatement: a neighbour's half in the same word may be written by another thread), so
 *    every kernel stays one thread per element; `shader-f16` is not needed.
 *  - the block types: their bytes, four to a word.
 */
export const BYTES_PER_WORD = 4;

/** llama.cpp's blocks (every block type: Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K) live as their bytes, four to a word, read by matmul and take as stored. */
export const GPU_BLOCK_DTYPES: readonly DType[] = QUANTIZED_DTYPES;

/** Words holding `size` elements of `dtype`: one per element, one per two halves, or the blocks' bytes rounded up to words. */
export function wordsFor(dtype: DType, size: number): number {
  if (isHalfDType(dtype)) return Math.ceil(size / 2);
  return isQuantized(dtype) ? Math.ceil(hostLength(dtype, size) / 4) : size;
}

/** Bytes holding `size` elements of `dtype` (whole words): what a clear of such a buffer covers. */
export function bytesFor(dtype: DType, size: number): number {
  return wordsFor(dtype, size) * BYTES_PER_WORD;
}

export type StorageType = "f32" | "i32" | "u32";

export function storageType(dtype: DType): StorageType {
  return dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "u32";
}

/** The WGSL element type of a binding of `dtype`: halves a kernel writes are atomic words (see storeStatement). */
export function bindingType(dtype: DType, write = false): string {
  return write && isHalfDType(dtype) ? "atomic<u32>" : storageType(dtype);
}

/** The WGSL type a kernel computes in: float types in f32, int32 and bool in i32. */
export type ComputeType = "f32" | "i32";

export function computeType(dtype: DType): ComputeType {
  return dtype === "float32" || isHalfDType(dtype) ? "f32" : "i32";
}

/** `NAME[index]` split into its array's name and its index expression. */
function subscript(raw: string): { name: string; index: string } {
  const open = raw.indexOf("[");
  if (open <= 0 || !raw.endsWith("]")) throw new Error(`webgpu backend: expected an element read NAME[index], got ${raw}`);
  return { name: raw.slice(0, open), index: raw.slice(open + 1, -1) };
}

/** WGSL for the 16 bits of half element `index` of `name` (u32; see the storage rule above). */
function halfBits(name: string, index: string): string {
  return `((${name}[u32(${index}) >> 1u] >> ((u32(${index}) & 1u) << 4u)) & 0xffffu)`;
}

/** WGSL expression for the element `raw` (`NAME[index]`) of a `dtype` array as stored: its word, or a half's 16 bits. */
export function rawExpr(dtype: DType, raw: string): string {
  if (!isHalfDType(dtype)) return raw;
  const { name, index } = subscript(raw);
  return halfBits(name, index);
}

/** WGSL expression for the element `raw` (`NAME[index]`) of a `dtype` array in its compute type. */
export function loadExpr(dtype: DType, raw: string): string {
  switch (dtype) {
    case "float32":
    case "int32":
      return raw;
    case "bool":
      return `i32(${raw})`;
    case "float16":
      return `unpack2x16float(${rawExpr(dtype, raw)}).x`;
    case "bfloat16":
      return `bitcast<f32>(${rawExpr(dtype, raw)} << 16u)`;
    default:
      throw blocksUnsupported(dtype);
  }
}

/**
 * The WGSL statement storing `word` (a storage word of `dtype`: storeExpr's, or a rawExpr's) as
 * element `index` of `name`. A half takes its 16 bits of the shared word by an atomic and, then an
 * atomic or (the binding is atomic<u32>: bindingType(dtype, true)); no two threads write the same
 * element, so the other half's writer can come between them without harm.
 */
export function storeStatement(dtype: DType, name: string, index: string, word: string): string {
  if (!isHalfDType(dtype)) return `${name}[${index}] = ${word};`;
  return `{ let hw = u32(${index}) >> 1u; let hs = (u32(${index}) & 1u) << 4u; atomicAnd(&${name}[hw], ~(0xffffu << hs)); atomicOr(&${name}[hw], (${word}) << hs); }`;
}

/** Blocks are read by matmul, take and a cast to float32 only: a clear error instead of garbage. */
function blocksUnsupported(dtype: DType): Error {
  return new Error(`webgpu backend: ${dtype} weights are read by matmul, take and a cast to float32 only`);
}

/** WGSL expression turning a compute-type value `v` into a storage word of `dtype`. */
export function storeExpr(dtype: DType, v: string): string {
  switch (dtype) {
    case "float32":
    case "int32":
      return v;
    case "bool":
      return `u32(${v})`;
    case "float16":
      return `f32_to_f16(${v})`;
    case "bfloat16":
      return `f32_to_bf16(${v})`;
    default:
      throw blocksUnsupported(dtype);
  }
}

/** Converts a compute value of `from`'s compute type to `to`'s, with the Tensor layer's rules. */
export function convertExpr(from: DType, to: DType, v: string): string {
  // NaN is true, as in JS; the explicit test survives drivers that get unordered compares wrong.
  if (to === "bool") return computeType(from) === "f32" ? `i32(${v} != 0.0 || is_nan(${v}))` : `i32(${v} != 0)`;
  const a = computeType(from);
  const b = computeType(to);
  if (a === b) return v;
  // f32 -> i32 truncates toward zero (WGSL saturates out of range, where C would be undefined).
  return b === "i32" ? `f32_to_i32(${v})` : `f32(${v})`;
}

/** Host data as the words the GPU stores for `dtype` (the CPU backend's upload rules). */
export function toWords(data: HostArray, dtype: DType): Float32Array | Int32Array | Uint32Array {
  const n = data.length;
  switch (dtype) {
    case "float32":
      return data instanceof Float32Array ? data : Float32Array.from(data);
    case "int32":
      return data instanceof Int32Array ? data : Int32Array.from(data, (v) => toInt32(v));
    case "bool": {
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = data[i] !== 0 ? 1 : 0;
      return out;
    }
    case "float16":
    case "bfloat16": {
      // two to a word: a Uint16Array of even length viewed as words
      const halves = new Uint16Array(2 * wordsFor(dtype, n));
      if (data instanceof Uint16Array) halves.set(data);
      else {
        const enc = dtype === "float16" ? float32ToFloat16Bits : float32ToBfloat16Bits;
        for (let i = 0; i < n; i++) halves[i] = enc(data[i]!);
      }
      return new Uint32Array(halves.buffer);
    }
    default: {
      // the block types: their bytes
      const bytes = data as Uint8Array;
      const out = new Uint32Array(wordsFor(dtype, elementsOfHost(dtype, bytes.length)));
      new Uint8Array(out.buffer).set(bytes);
      return out;
    }
  }
}

/** The inverse of toWords: `bytes` (at least size words) back into the host array for `dtype`. */
export function fromWords(bytes: ArrayBuffer, dtype: DType, size: number, byteOffset = 0): HostArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(bytes, byteOffset, size).slice();
    case "int32":
      return new Int32Array(bytes, byteOffset, size).slice();
    case "bool":
      return Uint8Array.from(new Uint32Array(bytes, byteOffset, size));
    case "float16":
    case "bfloat16":
      return new Uint16Array(bytes, byteOffset, size).slice();
    default:
      // the block types: their bytes
      return new Uint8Array(bytes, byteOffset, hostLength(dtype, size)).slice();
  }
}

function toInt32(v: number): number {
  return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
}
