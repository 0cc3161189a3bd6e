/**
 * Element types. float16 and bfloat16 are storage types: cast them to float32 to compute (a matmul
 * reads them as stored). The block-quantized types are llama.cpp's (see QUANT_BLOCKS): weights
 * only, read by matmul and take, or dequantized by a cast to float32.
 */
export type DType = "float32" | "int32" | "bool" | "float16" | "bfloat16" | QuantizedDType;

/** llama.cpp's block-quantized types, named as GGUF names them (lower case). */
export type QuantizedDType =
  | "q8_0"
  | "q4_0"
  | "q5_0"
  | "q4_1"
  | "q5_1"
  | "q2_k"
  | "q3_k"
  | "q4_k"
  | "q5_k"
  | "q6_k"
  | "iq4_nl"
  | "iq4_xs"
  | "iq2_xxs"
  | "iq2_xs"
  | "iq2_s"
  | "iq3_xxs"
  | "iq3_s"
  | "iq1_s"
  | "iq1_m";

/** The dtypes a weight may be stored in besides float32: read as stored by matmul, never computed in. */
export type StoredDType = "float16" | "bfloat16" | QuantizedDType;

/** The typed array that holds each dtype on the host. Half types keep their raw 16-bit patterns; blocks their bytes. */
export interface TypedArrayFor extends Record<QuantizedDType, Uint8Array> {
  float32: Float32Array;
  int32: Int32Array;
  bool: Uint8Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
}
export type HostArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

/**
 * A block of a quantized type: `elements` consecutive values along a row stored in `bytes` bytes
 * (ggml's block_q8_0: an f16 scale then 32 int8; block_q4_0: an f16 scale then 16 bytes of nibbles;
 * block_q5_0: Q4_0's with fifth bits; block_q4_1 / block_q5_1: an f16 scale and min, Q5_1's fifth
 * bits, then nibbles;
 * block_q2_K, block_q3_K, block_q4_K, block_q5_K and block_q6_K: 256 values with sub-block scales;
 * block_iq4_nl: Q4_0's layout, the nibbles indexing a non-linear table; block_iq4_xs: 256 values,
 * those nibbles with a 6-bit scale per 32; block_iq2_xxs, _xs, _s, block_iq3_xxs, _s, block_iq1_s, _m:
 * 256 values as indices into lattice tables (quant/iq_grids.ts) with signs and sub-block scales).
 */
export const QUANT_BLOCKS: Readonly<Record<QuantizedDType, { readonly elements: number; readonly bytes: number }>> = {
  q8_0: { elements: 32, bytes: 34 },
  q4_0: { elements: 32, bytes: 18 },
  q5_0: { elements: 32, bytes: 22 },
  q4_1: { elements: 32, bytes: 20 },
  q5_1: { elements: 32, bytes: 24 },
  q2_k: { elements: 256, bytes: 84 },
  q3_k: { elements: 256, bytes: 110 },
  q4_k: { elements: 256, bytes: 144 },
  q5_k: { elements: 256, bytes: 176 },
  q6_k: { elements: 256, bytes: 210 },
  iq4_nl: { elements: 32, bytes: 18 },
  iq4_xs: { elements: 256, bytes: 136 },
  iq2_xxs: { elements: 256, bytes: 66 },
  iq2_xs: { elements: 256, bytes: 74 },
  iq2_s: { elements: 256, bytes: 82 },
  iq3_xxs: { elements: 256, bytes: 98 },
  iq3_s: { elements: 256, bytes: 110 },
  iq1_s: { elements: 256, bytes: 50 },
  iq1_m: { elements: 256, bytes: 56 },
};

/** The block types, in QUANT_BLOCKS' order. */
export const QUANTIZED_DTYPES = Object.keys(QUANT_BLOCKS) as readonly QuantizedDType[];

export const DTYPES: readonly DType[] = ["float32", "int32", "bool", "float16", "bfloat16", ...QUANTIZED_DTYPES];

/** Bytes per element; fractional for block types (q8_0: 34/32). */
export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  float16: 2,
  bfloat16: 2,
  ...(Object.fromEntries(QUANTIZED_DTYPES.map((d) => [d, QUANT_BLOCKS[d].bytes / QUANT_BLOCKS[d].elements])) as Record<
    QuantizedDType,
    number
  >),
};

export function isQuantized(dtype: DType): dtype is QuantizedDType {
  return Object.hasOwn(QUANT_BLOCKS, dtype);
}

/** A dtype a weight may be kept in besides float32 (matmul reads it as stored). */
export function isStoredDType(dtype: DType): dtype is StoredDType {
  return dtype === "float16" || dtype === "bfloat16" || isQuantized(dtype);
}

export function isHalfDType(dtype: DType): dtype is "float16" | "bfloat16" {
  return dtype === "float16" || dtype === "bfloat16";
}

/** Length of the host array holding `size` elements (bytes for block types; size must be whole blocks). */
export function hostLength(dtype: DType, size: number): number {
  if (!isQuantized(dtype)) return size;
  const b = QUANT_BLOCKS[dtype];
  return (size / b.elements) * b.bytes;
}

/** Elements held by a host array of `length` (the inverse of hostLength). */
export function elementsOfHost(dtype: DType, length: number): number {
  if (!isQuantized(dtype)) return length;
  const b = QUANT_BLOCKS[dtype];
  return (length / b.bytes) * b.elements;
}

export function allocHost(dtype: DType, size: number): HostArray {
  if (isQuantized(dtype)) return new Uint8Array(hostLength(dtype, size));
  switch (dtype) {
    case "float32":
      return new Float32Array(size);
    case "int32":
      return new Int32Array(size);
    case "bool":
      return new Uint8Array(size);
    case "float16":
    case "bfloat16":
      return new Uint16Array(size);
  }
}

export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16" || isQuantized(dtype);
}
