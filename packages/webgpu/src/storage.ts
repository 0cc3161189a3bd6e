import { elementsOfHost, hostLength, isQuantized, QUANTIZED_DTYPES, type DType, type HostArray } from "@llm/tensor";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "./half.js";

/**
 * How each dtype lives in a storage buffer: one 32-bit word per element, always.
 *  - float32 -> f32, int32 -> i32
 *  - bool -> u32 (0 or 1; WGSL has no 8-bit storage type)
 *  - float16 / bfloat16 -> u32 holding the 16-bit pattern in its low half. Packing two per word
 *    would halve their memory, but every strided kernel would then have to read and write pairs;
 *    one word each keeps all kernels uniform. Halves are storage types (the Tensor layer computes
 *    on float32), so this costs memory only where models keep half weights on the GPU.
 */
export const BYTES_PER_WORD = 4;

/** llama.cpp's blocks (every block type: Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, Q4_K, Q5_K, Q6_K) live as their bytes, four to a word, read by matmul and take as stored. */
export const GPU_BLOCK_DTYPES: readonly DType[] = QUANTIZED_DTYPES;

/** Words holding `size` elements of `dtype`: one per element, or the blocks' bytes rounded up to words. */
export function wordsFor(dtype: DType, size: number): number {
  return isQuantized(dtype) ? Math.ceil(hostLength(dtype, size) / 4) : size;
}

export type StorageType = "f32" | "i32" | "u32";

export function storageType(dtype: DType): StorageType {
  return dtype === "float32" ? "f32" : dtype === "int32" ? "i32" : "u32";
}

/** The WGSL type a kernel computes in: float types in f32, int32 and bool in i32. */
export type ComputeType = "f32" | "i32";

export function computeType(dtype: DType): ComputeType {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16" ? "f32" : "i32";
}

/** WGSL expression turning a raw storage word `raw` of `dtype` into its compute type. */
export function loadExpr(dtype: DType, raw: string): string {
  switch (dtype) {
    case "float32":
    case "int32":
      return raw;
    case "bool":
      return `i32(${raw})`;
    case "float16":
      return `unpack2x16float(${raw}).x`;
    case "bfloat16":
      return `bitcast<f32>(${raw} << 16u)`;
    default:
      throw blocksUnsupported(dtype);
  }
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
      if (data instanceof Uint16Array) return Uint32Array.from(data);
      const enc = dtype === "float16" ? float32ToFloat16Bits : float32ToBfloat16Bits;
      const out = new Uint32Array(n);
      for (let i = 0; i < n; i++) out[i] = enc(data[i]!);
      return out;
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
      return Uint16Array.from(new Uint32Array(bytes, byteOffset, size));
    default:
      // the block types: their bytes
      return new Uint8Array(bytes, byteOffset, hostLength(dtype, size)).slice();
  }
}

function toInt32(v: number): number {
  return Number.isFinite(v) ? Math.trunc(v) | 0 : 0;
}
