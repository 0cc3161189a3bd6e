import { float16Table, float32ToFloat16Bits } from "../cpu/half.js";
import { setU16 } from "./k_quants.js";

/**
 * llama.cpp's Q5_0 (ggml's block_q5_0): 32 values as an f16 scale d = m / -16 (m the value of
 * largest magnitude, the first on ties), 4 bytes of fifth bits (bit j for value j) and 16 bytes of
 * nibbles (values 0..15 low, 16..31 high), each level min(31, trunc(x / d + 16.5)), value d (q - 16).
 * llama-quantize falls back to it for rows of a Q4_K_M file that are not whole 256-value
 * super-blocks. Float32 steps as in quantize_row_q5_0_ref, so the bytes are llama.cpp's.
 */
export const Q5_0_BYTES = 22;
const BLOCK = 32;

export function quantizeQ5_0(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += BLOCK, o += Q5_0_BYTES) {
    let amax = 0;
    let max = 0;
    for (let j = 0; j < BLOCK; j++) {
      const v = src[s + b + j]!;
      if (amax < Math.abs(v)) {
        amax = Math.abs(v);
        max = v;
      }
    }
    const d = f(max / -16);
    const id = d !== 0 ? f(1 / d) : 0;
    const h = float32ToFloat16Bits(d);
    setU16(dst, o, h);
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      const x0 = Math.min(31, Math.trunc(f(f(src[s + b + j]! * id) + 16.5)));
      const x1 = Math.min(31, Math.trunc(f(f(src[s + b + 16 + j]! * id) + 16.5)));
      dst[o + 6 + j] = (x0 & 15) | ((x1 & 15) << 4);
      qh |= ((x0 >> 4) << j) | ((x1 >> 4) << (j + 16));
    }
    dst.set([qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24], o + 2);
  }
}

export function dequantizeQ5_0(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const table = float16Table();
  for (let b = 0; b < n; b += BLOCK, o += Q5_0_BYTES) {
    const scale = table[src[o]! | (src[o + 1]! << 8)]!;
    const qh = (src[o + 2]! | (src[o + 3]! << 8) | (src[o + 4]! << 16) | (src[o + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = src[o + 6 + j]!;
      dst[d + b + j] = scale * (((q & 15) | (((qh >>> j) & 1) << 4)) - 16);
      dst[d + b + 16 + j] = scale * (((q >>> 4) | (((qh >>> (j + 16)) & 1) << 4)) - 16);
    }
  }
}
