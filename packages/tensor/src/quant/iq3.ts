import { f16 } from "./k_quants.js";
import { iqGrid, signsOf } from "./iq_grids.js";

/**
 * llama.cpp's 3-bit lattice types, 256 values a block, each group of 4 values one entry of a
 * table (iq_grids.ts), signs per value:
 *  - IQ3_XXS (98 bytes): an f16 d, 64 bytes of 8-bit iq3xxs indices, then per 32 values a u32 of
 *    four 7-bit sign groups (as IQ2_XXS's) and a 4-bit scale in the top bits; value =
 *    (d (0.5 + s) / 2) level sign, levels 4-62;
 *  - IQ3_S (110 bytes): an f16 d, 64 bytes of index low bits, 8 of ninth bits (bit k of the 64),
 *    32 of sign bits (one per value), 4 of two 4-bit scales per 64 values; value = (d (1 + 2 s))
 *    level sign, levels odd 1-15.
 * Read only (as the IQ2 types). In float32 steps as ggml's dequantize_row_iq3_*.
 */
export const IQ3_XXS_BYTES = 98;
export const IQ3_S_BYTES = 110;

/** The 4 values of grid entry `entry` at dst[d..], times dl, negated where `signs` (4 bits) has the bit. */
function decodeFour(grid: Uint8Array, entry: number, signs: number, dl: number, dst: Float32Array, d: number): void {
  const g = entry * 4;
  for (let j = 0; j < 4; j++) dst[d + j] = (signs >>> j) & 1 ? -(dl * grid[g + j]!) : dl * grid[g + j]!;
}

export function dequantizeIQ3_XXS(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq3xxs");
  const view = new DataView(src.buffer, src.byteOffset, src.byteLength);
  for (let b = 0; b < n; b += 256, o += IQ3_XXS_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const aux = view.getUint32(o + 66 + 4 * j, true);
      const dl = Math.fround(Math.fround(dd * (0.5 + (aux >>> 28))) * 0.5);
      for (let l = 0; l < 4; l++) {
        const signs = signsOf((aux >>> (7 * l)) & 127);
        const at = d + b + 32 * j + 8 * l;
        decodeFour(grid, src[o + 2 + 8 * j + 2 * l]!, signs, dl, dst, at);
        decodeFour(grid, src[o + 3 + 8 * j + 2 * l]!, signs >>> 4, dl, dst, at + 4);
      }
    }
  }
}

export function dequantizeIQ3_S(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const grid = iqGrid("iq3s");
  for (let b = 0; b < n; b += 256, o += IQ3_S_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) {
      const dl = Math.fround(dd * (1 + 2 * ((src[o + 106 + (j >>> 1)]! >>> (4 * (j & 1))) & 15)));
      const high = src[o + 66 + j]!;
      for (let l = 0; l < 4; l++) {
        const signs = src[o + 74 + 4 * j + l]!;
        const at = d + b + 32 * j + 8 * l;
        decodeFour(grid, src[o + 2 + 8 * j + 2 * l]! | (((high >>> (2 * l)) & 1) << 8), signs, dl, dst, at);
        decodeFour(grid, src[o + 3 + 8 * j + 2 * l]! | (((high >>> (2 * l + 1)) & 1) << 8), signs >>> 4, dl, dst, at + 4);
      }
    }
  }
}
