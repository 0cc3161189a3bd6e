import { float16Table, float32ToFloat16Bits } from "../cpu/half.js";
import { setU16 } from "./k_quants.js";

/**
 * llama.cpp's Q8_0 (ggml's block_q8_0): 32 values as an f16 scale d = max|x| / 127 and 32 int8
 * round(x / d), rounding half away from zero. Each step rounds to float32 as the C reference
 * (quantize_row_q8_0_ref) does, so the bytes are the same as llama.cpp's.
 */
export const Q8_0_BLOCK = 32;
export const Q8_0_BYTES = 34;

/** Quantizes n values (a multiple of 32) of src from s into dst at byte o. */
export function quantizeQ8_0(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += Q8_0_BLOCK, o += Q8_0_BYTES) {
    let amax = 0;
    for (let j = 0; j < Q8_0_BLOCK; j++) amax = Math.max(amax, Math.abs(src[s + b + j]!));
    const d = f(amax / 127);
    const id = d !== 0 ? f(1 / d) : 0;
    const h = float32ToFloat16Bits(d);
    setU16(dst, o, h);
    for (let j = 0; j < Q8_0_BLOCK; j++) {
      const v = f(src[s + b + j]! * id);
      // roundf: half away from zero (exact in float64 for float32 inputs)
      const q = v < 0 ? -Math.floor(-v + 0.5) : Math.floor(v + 0.5);
      dst[o + 2 + j] = q & 0xff;
    }
  }
}

/** Dequantizes n values from the blocks at byte o into dst at d. */
export function dequantizeQ8_0(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const table = float16Table();
  for (let b = 0; b < n; b += Q8_0_BLOCK, o += Q8_0_BYTES) {
    const scale = table[src[o]! | (src[o + 1]! << 8)]!;
    for (let j = 0; j < Q8_0_BLOCK; j++) dst[d + b + j] = scale * ((src[o + 2 + j]! << 24) >> 24);
  }
}
