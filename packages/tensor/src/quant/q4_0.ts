import { float16Table, float32ToFloat16Bits } from "../cpu/half.js";
import { setU16 } from "./k_quants.js";

/**
 * llama.cpp's Q4_0 (ggml's block_q4_0): 32 values as an f16 scale d = m / -8, where m is the value
 * of largest magnitude (the first one on ties), and 16 bytes whose low nibbles hold values 0..15
 * and high nibbles values 16..31, each min(15, trunc(x / d + 8.5)). Float32 steps as in the C
 * reference (quantize_row_q4_0_ref), so the bytes are llama.cpp's.
 */
export const Q4_0_BLOCK = 32;
export const Q4_0_BYTES = 18;

export function quantizeQ4_0(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += Q4_0_BLOCK, o += Q4_0_BYTES) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < Q4_0_BLOCK; j++) {
      const v = src[s + b + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -8);
    const id = d !== 0 ? f(1 / d) : 0;
    const h = float32ToFloat16Bits(d);
    setU16(dst, o, h);
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(15, Math.trunc(f(f(src[s + b + j]! * id) + 8.5)));
      const x1 = Math.min(15, Math.trunc(f(f(src[s + b + 16 + j]! * id) + 8.5)));
      dst[o + 2 + j] = x0 | (x1 << 4);
    }
  }
}

export function dequantizeQ4_0(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const table = float16Table();
  for (let b = 0; b < n; b += Q4_0_BLOCK, o += Q4_0_BYTES) {
    const scale = table[src[o]! | (src[o + 1]! << 8)]!;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 2 + j]!;
      dst[d + b + j] = scale * ((q & 15) - 8);
      dst[d + b + 16 + j] = scale * ((q >>> 4) - 8);
    }
  }
}
