import { isQuantized, QUANT_BLOCKS, type DType } from "../../dtype.js";
import { float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits, bfloat16BitsToFloat32 } from "../half.js";

/** Whether llama.cpp rounds the activations for a `weight`-typed matmul to Q8_0 blocks (Q8_1's levels and scale are Q8_0's). */
export function roundsToQ8_0Blocks(weight: DType): boolean {
  return weight === "q8_0" || weight === "q4_0" || weight === "q5_0" || weight === "q4_1" || weight === "q5_1" || weight === "iq4_nl";
}

/**
 * llama.cpp's CPU matmuls do not multiply float32 activations by the weight: each activation row
 * is first converted to the weight's "vec_dot_type" (float16 for F16 weights, Q8_0 blocks for
 * Q8_0, Q4_0, Q5_0 and IQ4_NL, Q8_1 for Q4_1 and Q5_1, Q8_K for the K-quants: the 256-value super-blocks) and the dot products run on those. This rounds a copy of
 * the rows the same way, so that a model run with CpuBackend({ activationRounding: "ggml" })
 * computes what llama.cpp computes (up to summation order): for comparing with it, and to see
 * what its rounding costs. Off by default: our activations stay float32.
 */
export function roundActivationsLikeGgml(A: Float32Array, rows: number, K: number, weight: DType): Float32Array {
  const out = new Float32Array(rows * K);
  if (weight === "float16") {
    roundToHalf(A, out);
  } else if (weight === "bfloat16") {
    for (let i = 0; i < out.length; i++) out[i] = bfloat16BitsToFloat32(float32ToBfloat16Bits(A[i]!));
  } else if (roundsToQ8_0Blocks(weight)) {
    // (Q4_1 / Q5_1 dot with Q8_1 blocks: Q8_0's levels and scale; the min term's own rounding is
    // added after the product, see q8_1MinCorrections)
    for (let r = 0; r < rows; r++) for (let b = 0; b < K; b += 32) q8_0Block(A, r * K + b, Math.min(32, K - b), out);
  } else if (isQuantized(weight) && QUANT_BLOCKS[weight].elements === 256) {
    for (let r = 0; r < rows; r++) for (let b = 0; b < K; b += 256) q8_KBlock(A, r * K + b, Math.min(256, K - b), out);
  } else {
    out.set(A.subarray(0, out.length));
  }
  return out;
}

/**
 * out[i] = A[i] rounded to float16 (to nearest, ties to even) and back. Values in float16's normal
 * range round by an integer add on their bits (a carry bumps the exponent); the rest (subnormals,
 * overflow to infinity, NaN) through the bit converters.
 */
function roundToHalf(A: Float32Array, out: Float32Array): void {
  const bits = new Uint32Array(A.buffer, A.byteOffset, out.length);
  const outBits = new Uint32Array(out.buffer, out.byteOffset, out.length);
  for (let i = 0; i < out.length; i++) {
    const u = bits[i]!;
    const magnitude = u & 0x7fffffff;
    // [2^-14, 65520): normal, and rounds to at most 65504
    if (magnitude >= 0x38800000 && magnitude < 0x477ff000) outBits[i] = (u + 0xfff + ((u >>> 13) & 1)) & 0xffffe000;
    else out[i] = float16BitsToFloat32(float32ToFloat16Bits(A[i]!));
  }
}

/** Round half to even, as _mm256_round_ps with _MM_ROUND_NEAREST. */
function rint(v: number): number {
  const r = Math.round(v);
  return Math.abs(v - Math.trunc(v)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** ggml-cpu's quantize_row_q8_0 scales for n values of src from `at`: d = amax / 127 (float32) and id = 127 / amax. */
function q8_0Scales(src: Float32Array, at: number, n: number): { d: number; id: number } {
  let amax = 0;
  for (let j = 0; j < n; j++) amax = Math.max(amax, Math.abs(src[at + j]!));
  return { d: Math.fround(amax / 127), id: amax !== 0 ? Math.fround(127 / amax) : 0 };
}

/** ggml-cpu's quantize_row_q8_0 (the SIMD one: levels x * id rounded to nearest even), dequantized with d in float16. */
function q8_0Block(src: Float32Array, at: number, n: number, dst: Float32Array): void {
  const { d, id } = q8_0Scales(src, at, n);
  const scale = float16BitsToFloat32(float32ToFloat16Bits(d));
  for (let j = 0; j < n; j++) dst[at + j] = rint(Math.fround(src[at + j]! * id)) * scale;
}

/**
 * Q4_1 / Q5_1 weights dot with Q8_1 activation blocks: Q8_0's levels q and float16 scale d16, plus
 * s = d q-sum rounded to float16 from the float32 d = amax / 127, which multiplies the weight block's
 * min (ggml_vec_dot_q4_1_q8_1: d_w d16 (q_w . q) + m_w s). The rounded activations give m_w d16
 * q-sum for that term instead; this is s - d16 q-sum for each activation row's blocks (rows x K/32),
 * the part of the min term they leave out.
 */
export function q8_1MinCorrections(A: Float32Array, rows: number, K: number): Float64Array {
  const nb = K / 32;
  const out = new Float64Array(rows * nb);
  for (let r = 0; r < rows; r++) {
    for (let b = 0; b < nb; b++) {
      const at = r * K + 32 * b;
      const { d, id } = q8_0Scales(A, at, 32);
      let sum = 0;
      for (let j = 0; j < 32; j++) sum += rint(Math.fround(A[at + j]! * id));
      const s = float16BitsToFloat32(float32ToFloat16Bits(Math.fround(d * sum)));
      out[r * nb + b] = s - float16BitsToFloat32(float32ToFloat16Bits(d)) * sum;
    }
  }
  return out;
}

/** quantize_row_q8_K_ref: a float32 scale d = max / -127 (max: the value of largest magnitude), levels to 127, dequantized. */
function q8_KBlock(src: Float32Array, at: number, n: number, dst: Float32Array): void {
  let amax = 0;
  let max = 0;
  for (let j = 0; j < n; j++) {
    const ax = Math.abs(src[at + j]!);
    if (ax > amax) {
      amax = ax;
      max = src[at + j]!;
    }
  }
  if (amax === 0) {
    dst.fill(0, at, at + n);
    return;
  }
  const iscale = Math.fround(-127 / max);
  const d = Math.fround(1 / iscale);
  for (let j = 0; j < n; j++) {
    const q = Math.min(127, Math.fround(Math.fround(iscale * src[at + j]!) + 12582912) - 12582912);
    dst[at + j] = Math.fround(d * q);
  }
}

/**
 * ggml's CPU GELU (ggml_vec_gelu_f32 with its float16 table): the tanh approximation of the
 * float16-rounded input, looked up already rounded to float16; exactly x from 10 on, 0 to -10.
 * llama.cpp uses it for every GELU model (GPT-2, GPT-NeoX, Falcon, BLOOM, MPT), exact-erf ones too.
 */
export function ggmlGelu(x: Float32Array): Float32Array {
  const table = geluTable();
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    out[i] = v <= -10 ? 0 : v >= 10 ? v : table[float32ToFloat16Bits(v)]!;
  }
  return out;
}

let geluF16: Float32Array | null = null;
/** GELU-tanh of every float16 value (index: its bits), rounded to float16; the resident kernel's table is a copy. */
export function geluTable(): Float32Array {
  if (geluF16) return geluF16;
  const f = Math.fround;
  geluF16 = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) {
    const x = float16BitsToFloat32(i);
    const g = f(f(0.5 * x) * f(1 + Math.tanh(f(f(0.7978845608028654 * x) * f(1 + f(f(0.044715 * x) * x))))));
    geluF16[i] = float16BitsToFloat32(float32ToFloat16Bits(g));
  }
  return geluF16;
}
