import { f16 } from "./k_quants.js";
import { iqGrid, signsOf } from "./iq_grids.js";

/**
 * llama.cpp's 2-bit lattice types, 256 values a block, each group of 8 values one entry of a
 * table (iq_grids.ts: levels 8, 25, 43) with 8 signs, times a 4-bit sub-block scale:
 *  - IQ2_XXS (66 bytes): an f16 d, then per 32 values two u32: four 8-bit grid indices (iq2xxs
 *    grid), then four 7-bit sign groups (the eighth sign makes an even count) and the scale in
 *    the top 4 bits; value = (d (0.5 + s) / 4) level sign;
 *  - IQ2_XS (74 bytes): an f16 d, 32 u16 (a 9-bit iq2xs index, 7 sign bits), 8 bytes of two
 *    4-bit scales (one per 16 values);
 *  - IQ2_S (82 bytes): an f16 d, 32 bytes of index low bits, 32 of sign bytes, 8 of index high
 *    bit pairs (a 10-bit iq2s index), 8 of scales as IQ2_XS's.
 * Read only: llama-quantize makes them with an importance matrix. In float32 steps as ggml's
 * dequantize_row_iq2_*.
 */
export const IQ2_XXS_BYTES = 66;
export const IQ2_XS_BYTES = 74;
export const IQ2_S_BYTES = 82;

/** The 8 values of grid entry `entry` at dst[d..], times dl, negated where `signs` has the bit. */
function decodeEight(grid: Uint8Array, entry: number, signs: number, dl: number, dst: Float32Array, d: number): void {
  const g = entry * 8;
  for (let j = 0; j < 8; j++) dst[d + j] = (signs >>> j) & 1 ? -(dl * grid[g + j]!) : dl * grid[g + j]!;
}

/** d (0.5 + s) / 4 in float32 steps, the scale of a group's levels. */
const quarterScale = (d: number, s: number): number => Math.fround(Math.fround(d * (0.5 + s)) * 0.25);

export function dequantizeIQ2_XXS(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq2xxs");
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n; b += 256, o += IQ2_XXS_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const at = o + 2 + 8 * j;
      const aux = view.getUint32(at + 4, true);
      const dl = quarterScale(dd, aux >>> 28);
      for (let l = 0; l < 4; l++) decodeEight(grid, src[at + l]!, signsOf((aux >>> (7 * l)) & 127), dl, dst, d + b + 32 * j + 8 * l);
    }
  }
}

export function dequantizeIQ2_XS(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq2xs");
  for (let b = 0; b < n; b += 256, o += IQ2_XS_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const scales = src[o + 66 + j]!;
      for (let l = 0; l < 4; l++) {
        const q = src[o + 2 + 8 * j + 2 * l]! | (src[o + 3 + 8 * j + 2 * l]! << 8);
        decodeEight(grid, q & 511, signsOf(q >>> 9), quarterScale(dd, (scales >>> (4 * (l >>> 1))) & 15), dst, d + b + 32 * j + 8 * l);
      }
    }
  }
}

export function dequantizeIQ2_S(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq2s");
  for (let b = 0; b < n; b += 256, o += IQ2_S_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const scales = src[o + 74 + j]!;
      const high = src[o + 66 + j]!;
      for (let l = 0; l < 4; l++) {
        const entry = src[o + 2 + 4 * j + l]! | (((high >>> (2 * l)) & 3) << 8);
        decodeEight(
          grid,
          entry,
          src[o + 34 + 4 * j + l]!,
          quarterScale(dd, (scales >>> (4 * (l >>> 1))) & 15),
          dst,
          d + b + 32 * j + 8 * l,
        );
      }
    }
  }
}
