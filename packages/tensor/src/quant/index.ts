import { isQuantized, QUANT_BLOCKS, QUANTIZED_DTYPES, type DType, type QuantizedDType } from "../dtype.js";
import { ShapeError } from "../errors.js";
import { dequantizeQ4_K, dequantizeQ5_K, dequantizeQ6_K, quantizeQ4_K, quantizeQ5_K, quantizeQ6_K } from "./k_quants.js";
import { dequantizeQ4_0, quantizeQ4_0 } from "./q4_0.js";
import { dequantizeQ5_0, quantizeQ5_0 } from "./q5_0.js";
import { dequantizeQ4_1, dequantizeQ5_1, quantizeQ4_1, quantizeQ5_1 } from "./q4_1_q5_1.js";
import { dequantizeQ2_K, dequantizeQ3_K, quantizeQ2_K, quantizeQ3_K } from "./q2_k_q3_k.js";
import { dequantizeIQ4_NL, dequantizeIQ4_XS, quantizeIQ4_NL, quantizeIQ4_XS } from "./iq4.js";
import { dequantizeQ8_0, quantizeQ8_0 } from "./q8_0.js";
import { dequantizeIQ2_S, dequantizeIQ2_XS, dequantizeIQ2_XXS } from "./iq2.js";
import { dequantizeIQ3_S, dequantizeIQ3_XXS } from "./iq3.js";
import { dequantizeIQ1_M, dequantizeIQ1_S } from "./iq1.js";

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
  iq2_xxs: dequantizeIQ2_XXS,
  iq2_xs: dequantizeIQ2_XS,
  iq2_s: dequantizeIQ2_S,
  iq3_xxs: dequantizeIQ3_XXS,
  iq3_s: dequantizeIQ3_S,
  iq1_s: dequantizeIQ1_S,
  iq1_m: dequantizeIQ1_M,
};
/**
 * The types we write, as llama.cpp's reference rows or llama-quantize (without an importance
 * matrix) write them. The IQ1/IQ2/IQ3 lattice types are read only: llama-quantize refuses most of
 * them without an importance matrix, and their searches over the lattices are not ours yet.
 */
const ENCODERS: Partial<Record<QuantizedDType, Encoder>> = {
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

/** The quantized types we can write (all we read but the IQ1/IQ2/IQ3 lattice types). */
export const QUANTIZE_TYPES: readonly QuantizedDType[] = QUANTIZED_DTYPES.filter((t) => ENCODERS[t] !== undefined);

/** Dequantizes n values (whole blocks) starting at byte `o` of `src` into dst[d..d+n). */
export function dequantizeBlocks(type: QuantizedDType, src: Uint8Array, o: number, n: number, dst: Float32Array, d = 0): void {
  DECODERS[type](src, o, n, dst, d);
}

/** Quantizes n values (whole blocks) of src from `s` into dst at byte `o`, as llama.cpp's reference rows do. */
export function quantizeBlocks(type: QuantizedDType, src: Float32Array, s: number, n: number, dst: Uint8Array, o = 0): void {
  const encode = ENCODERS[type];
  if (encode === undefined) {
    throw new TypeError(
      `quantizeBlocks: ${type} is read only (we read it from GGUF files but do not write it); write one of ${QUANTIZE_TYPES.join(", ")}`,
    );
  }
  encode(src, s, n, dst, o);
}

/** Checks that rows of `length` values split into whole blocks of `type`; `what` names the tensor in the error. */
export function checkBlockRows(type: DType, length: number, what: string): void {
  if (!isQuantized(type)) return;
  const { elements } = QUANT_BLOCKS[type];
  if (length % elements !== 0) {
    throw new ShapeError(`${what}: ${type} stores rows in blocks of ${elements} values, found rows of ${length}`);
  }
}
