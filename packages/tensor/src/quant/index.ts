import { isQuantized, QUANT_BLOCKS, QUANTIZED_DTYPES, type DType, type QuantizedDType } from "../dtype.js";
import { ShapeError } from "../errors.js";
import { dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from "./k_quants.js";
import { dequantizeQ4_0, quantizeQ4_0 } from "./q4_0.js";
import { dequantizeQ5_0, quantizeQ5_0 } from "./q5_0.js";
import { dequantizeQ4_1, dequantizeQ5_1, quantizeQ4_1, quantizeQ5_1 } from "./q4_1_q5_1.js";
import { dequantizeQ2_K, dequantizeQ3_K, quantizeQ2_K, quantizeQ3_K } from "./q2_k_q3_k.js";
import { dequantizeIQ4_NL, dequantizeIQ4_XS, quantizeIQ4_NL, quantizeIQ4_XS } from "./iq4.js";
import { dequantizeQ8_0, quantizeQ8_0 } from "./q8_0.js";

type Codec = (src: Uint8Array, o: number, n: number, dst: Float32Array, d: number) => void;
type Encoder = (src: Float32Array, s: number, n: number, dst: Uint8Array, o: number) => void;

const DECODERS: Record<QuantizedDType, Codec> = {
  q8_0: dequantizeQ8_0,
  q4_0: dequantizeQ4_0,
  q5_0: dequantizeQ5_0,
  q4_1: dequantizeQ4_1,
  q5_1: dequantizeQ5_1,
  q2_k: dequantizeQ2_K,
  q3_k: dequantizeQ3_K,
  q4_k: dequantizeQ4_K,
  q5_k: dequantizeQ5_K,
  q6_k: dequantizeQ6_K,
  iq4_nl: dequantizeIQ4_NL,
  iq4_xs: dequantizeIQ4_XS,
};
const ENCODERS: Record<QuantizedDType, Encoder> = {
  q8_0: quantizeQ8_0,
  q4_0: quantizeQ4_0,
  q5_0: quantizeQ5_0,
  q4_1: quantizeQ4_1,
  q5_1: quantizeQ5_1,
  q2_k: quantizeQ2_K,
  q3_k: quantizeQ3_K,
  q4_k: quantizeQ4_K,
  q5_k: quantizeQ5_K,
  q6_k: quantizeQ6_K,
  iq4_nl: quantizeIQ4_NL,
  iq4_xs: quantizeIQ4_XS,
};

/** The quantized types we can write (all we read). */
export const QUANTIZE_TYPES: readonly QuantizedDType[] = QUANTIZED_DTYPES;

/** Dequantizes n values (whole blocks) starting at byte `o` of `src` into dst[d..d+n). */
export function dequantizeBlocks(type: QuantizedDType, src: Uint8Array, o: number, n: number, dst: Float32Array, d = 0): void {
  DECODERS[type](src, o, n, dst, d);
}

/** Quantizes n values (whole blocks) of src from `s` into dst at byte `o`, as llama.cpp's reference rows do. */
export function quantizeBlocks(type: QuantizedDType, src: Float32Array, s: number, n: number, dst: Uint8Array, o = 0): void {
  ENCODERS[type](src, s, n, dst, o);
}

/** Checks that rows of `length` values split into whole blocks of `type`; `what` names the tensor in the error. */
export function checkBlockRows(type: DType, length: number, what: string): void {
  if (!isQuantized(type)) return;
  const { elements } = QUANT_BLOCKS[type];
  if (length % elements !== 0) {
    throw new ShapeError(`${what}: ${type} stores rows in blocks of ${elements} values, found rows of ${length}`);
  }
}
