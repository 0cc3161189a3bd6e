import { float16Table } from "../cpu/half.js";
import { f16 } from "./k_quants.js";
import { IQ1_DELTA, iqGrid } from "./iq_grids.js";

/**
 * llama.cpp's 1.5- and 1.75-bit lattice types, 256 values a block, each group of 8 values one
 * entry of iq1s_grid (levels -1, 0, 1) shifted by +-1/8:
 *  - IQ1_S (50 bytes): an f16 d, 32 bytes of index low bits, then per 32 values a u16: three
 *    index high bits for each of its four groups, a 3-bit scale s (bits 12-14) and the shift's
 *    sign (bit 15); value = (d (2 s + 1)) (level +- 1/8);
 *  - IQ1_M (56 bytes): 32 bytes of index low bits, 16 of (three high bits, the shift's sign) per
 *    group, 8 of 3-bit scales (one per 16 values) whose u16s' top nibbles hold the f16 d.
 * Read only (as the IQ2 types). In float32 steps as ggml's dequantize_row_iq1_*.
 */
export const IQ1_S_BYTES = 50;
export const IQ1_M_BYTES = 56;

/** The 8 values of iq1s_grid entry `entry` at dst[d..]: dl (level + delta). */
function decodeEight(grid: Uint8Array, entry: number, delta: number, dl: number, dst: Float32Array, d: number): void {
  const g = entry * 8;
  for (let j = 0; j < 8; j++) dst[d + j] = dl * (((grid[g + j]! << 24) >> 24) + delta);
}

export function dequantizeIQ1_S(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq1s");
  for (let b = 0; b < n; b += 256, o += IQ1_S_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const qh = src[o + 34 + 2 * j]! | (src[o + 35 + 2 * j]! << 8);
      const dl = Math.fround(dd * (2 * ((qh >>> 12) & 7) + 1));
      const delta = qh & 0x8000 ? -IQ1_DELTA : IQ1_DELTA;
      for (let l = 0; l < 4; l++)
        decodeEight(grid, src[o + 2 + 4 * j + l]! | (((qh >>> (3 * l)) & 7) << 8), delta, dl, dst, d + b + 32 * j + 8 * l);
    }
  }
}

/** IQ1_M's f16 d, spread over the top nibbles of its four scale u16s (at byte s). */
export function iq1mScale(src: Uint8Array, s: number): number {
  const top = (k: number): number => src[s + 2 * k + 1]! >>> 4;
  return float16Table()[top(0) | (top(1) << 4) | (top(2) << 8) | (top(3) << 12)]!;
}

export function dequantizeIQ1_M(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq1s");
  for (let b = 0; b < n; b += 256, o += IQ1_M_BYTES) {
    const dd = iq1mScale(src, o + 48);
    for (let j = 0; j < 8; j++) {
      const sc = src[o + 48 + 2 * (j >>> 1)]! | (src[o + 49 + 2 * (j >>> 1)]! << 8);
      const shift = 6 * (j & 1);
      for (let l = 0; l < 4; l++) {
        const dl = Math.fround(dd * (2 * ((sc >>> (shift + 3 * (l >>> 1))) & 7) + 1));
        const qh = src[o + 32 + 2 * j + (l >>> 1)]! >>> (4 * (l & 1));
        const delta = qh & 8 ? -IQ1_DELTA : IQ1_DELTA;
        decodeEight(grid, src[o + 4 * j + l]! | ((qh & 7) << 8), delta, dl, dst, d + b + 32 * j + 8 * l);
      }
    }
  }
}
