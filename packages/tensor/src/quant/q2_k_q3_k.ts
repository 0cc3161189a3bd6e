import { float16BitsToFloat32, float32ToFloat16Bits } from "../cpu/half.js";
import { f16, GROUP_MAX_EPS, int8, K_BLOCK, largestMagnitude, makeQkx2Quants, nearestInt, setU16 } from "./k_quants.js";

/**
 * llama.cpp's 2- and 3-bit K-quants (ggml's block_q2_K and block_q3_K), the types of the Q2_K and
 * Q3_K_S / _M / _L files llama-quantize makes: read, and written as quantize_row_q2_K_ref /
 * _q3_K_ref write them (no importance matrix), in float32 steps. Both keep a value's two low bits
 * in the same place: value v of a super-block is bits 2 ((v / 32) % 4) of byte 32 (v / 128) +
 * v % 32 of the 64 bytes of quants, and both have one scale per 16 values.
 */
export const Q2_K_BYTES = 84;
export const Q3_K_BYTES = 110;

/** The two low bits of value v (0-255) of a super-block whose 64 bytes of quants start at byte q. */
const lowBits = (src: Uint8Array, q: number, v: number): number => (src[q + 32 * (v >>> 7) + (v & 31)]! >>> (2 * ((v >>> 5) & 3))) & 3;

/**
 * block_q2_K: 16 bytes of scales (low nibble) and mins (high nibble), one per 16 values, then the
 * 64 bytes of quants, then d and dmin (f16): value = (d scale) q - dmin min.
 */
export function dequantizeQ2_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += K_BLOCK, o += Q2_K_BYTES) {
    const dd = f16(src, o + 80);
    const dmin = f16(src, o + 82);
    for (let g = 0; g < 16; g++) {
      const sc = src[o + g]!;
      const dl = f(dd * (sc & 15));
      const ml = f(dmin * (sc >>> 4));
      for (let v = 16 * g; v < 16 * g + 16; v++) dst[d + b + v] = dl * lowBits(src, o + 16, v) - ml;
    }
  }
}

/**
 * The 6-bit scale (0-63, stored as scale + 32) of sub-block j (0-15) of a Q3_K block whose 12 bytes
 * of scales start at byte s: the low four bits in the nibbles of bytes 0-7, the high two in bytes 8-11.
 */
function scaleQ3(src: Uint8Array, s: number, j: number): number {
  const low = j < 8 ? src[s + j]! & 15 : src[s + j - 8]! >>> 4;
  return low | (((src[s + 8 + (j & 3)]! >>> (2 * (j >>> 2))) & 3) << 4);
}

/**
 * block_q3_K: 32 bytes of high bits (bit v / 32 of byte v % 32), the 64 bytes of low bits, 12 bytes
 * of 6-bit scales, then d (f16): value = (d (scale - 32)) (low - (high ? 0 : 4)), levels -4..3.
 */
export function dequantizeQ3_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += K_BLOCK, o += Q3_K_BYTES) {
    const dd = f16(src, o + 108);
    for (let g = 0; g < 16; g++) {
      const dl = f(dd * (scaleQ3(src, o + 96, g) - 32));
      for (let v = 16 * g; v < 16 * g + 16; v++) {
        const high = (src[o + (v & 31)]! >>> (v >>> 5)) & 1;
        dst[d + b + v] = dl * (lowBits(src, o + 32, v) - (high ? 0 : 4));
      }
    }
  }
}

/** The 64 bytes of quants at byte q from levels L (0-3 each), as both block types lay them out. */
function packLowBits(L: Uint8Array, dst: Uint8Array, q: number): void {
  for (let j = 0; j < K_BLOCK; j += 128) {
    for (let l = 0; l < 32; l++) {
      dst[q + j / 4 + l] = L[j + l]! | (L[j + l + 32]! << 2) | (L[j + l + 64]! << 4) | (L[j + l + 96]! << 6);
    }
  }
}

/**
 * quantize_row_q2_K_ref: each 16 values get a scale and min from makeQkx2Quants (levels 0-3,
 * weights |x|, least absolute error), both quantized to 4 bits against the largest (d, dmin in
 * float16), then every level recomputed as (x + dmin m) / (d sc), clamped.
 */
export function quantizeQ2_K(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  const L = new Uint8Array(K_BLOCK);
  const Laux = new Uint8Array(16);
  const weights = new Float32Array(16);
  const scales = new Float32Array(16);
  const mins = new Float32Array(16);
  for (let b = 0; b < n; b += K_BLOCK, o += Q2_K_BYTES) {
    const x = s + b;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 16; j++) {
      for (let l = 0; l < 16; l++) weights[l] = Math.abs(src[x + 16 * j + l]!);
      [scales[j], mins[j]] = makeQkx2Quants(16, 3, src, x + 16 * j, weights, L, 16 * j, Laux, -0.5, 0.1, 15, true);
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    dst.fill(0, o, o + Q2_K_BYTES);
    if (maxScale > 0) {
      const iscale = f(15 / maxScale);
      for (let j = 0; j < 16; j++) dst[o + j] = nearestInt(f(iscale * scales[j]!)) & 0xff;
      setU16(dst, o + 80, float32ToFloat16Bits(f(maxScale / 15)));
    }
    if (maxMin > 0) {
      const iscale = f(15 / maxMin);
      for (let j = 0; j < 16; j++) dst[o + j]! |= (nearestInt(f(iscale * mins[j]!)) << 4) & 0xff;
      setU16(dst, o + 82, float32ToFloat16Bits(f(maxMin / 15)));
    }
    const d16 = float16BitsToFloat32(dst[o + 80]! | (dst[o + 81]! << 8));
    const dmin16 = float16BitsToFloat32(dst[o + 82]! | (dst[o + 83]! << 8));
    for (let j = 0; j < 16; j++) {
      const d = f(d16 * (dst[o + j]! & 15));
      if (d === 0) continue; // the group keeps makeQkx2Quants' levels, as llama.cpp's does
      const dm = f(dmin16 * (dst[o + j]! >>> 4));
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(0, Math.min(3, nearestInt(f(f(src[x + 16 * j + i]! + dm) / d))));
    }
    packLowBits(L, dst, o + 16);
  }
}

/**
 * make_q3_quants(n, nmax, x, L, do_rmse = true): levels -nmax..nmax-1 (stored + nmax in L) from
 * the largest magnitude, then up to five passes that move single levels where that lowers the
 * x^2-weighted squared error; returns the least-squares scale of the final levels.
 */
function makeQ3Quants(n: number, nmax: number, x: Float32Array, xo: number, L: Int8Array, lo: number): number {
  const f = Math.fround;
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const clampL = (l: number): number => Math.max(-nmax, Math.min(nmax - 1, l));
  const iscale = f(-nmax / max);
  let sumlx = 0;
  let suml2 = 0;
  for (let i = 0; i < n; i++) {
    const xi = x[xo + i]!;
    const l = clampL(nearestInt(f(iscale * xi)));
    L[lo + i] = l;
    const w = f(xi * xi);
    sumlx = f(sumlx + f(f(w * xi) * l));
    suml2 = f(suml2 + f(f(w * l) * l));
  }
  for (let itry = 0; itry < 5; itry++) {
    let changed = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const w = f(xi * xi);
      const li = L[lo + i]!;
      let slx = f(sumlx - f(f(w * xi) * li));
      if (!(slx > 0)) continue;
      let sl2 = f(suml2 - f(f(w * li) * li));
      const newL = clampL(nearestInt(f(f(xi * sl2) / slx)));
      if (newL === li) continue;
      slx = f(slx + f(f(w * xi) * newL));
      sl2 = f(sl2 + f(f(w * newL) * newL));
      if (sl2 > 0 && f(f(slx * slx) * suml2) > f(f(sumlx * sumlx) * sl2)) {
        L[lo + i] = newL;
        sumlx = slx;
        suml2 = sl2;
        changed++;
      }
    }
    if (changed === 0) break;
  }
  for (let i = 0; i < n; i++) L[lo + i] = L[lo + i]! + nmax;
  return suml2 > 0 ? f(sumlx / suml2) : 0;
}

/**
 * quantize_row_q3_K_ref: each 16 values get a scale from makeQ3Quants (levels -4..3), the scales
 * quantized to 6 bits against the largest in magnitude (d in float16), then every level
 * recomputed as x / (d sc), clamped; the third bit of level + 4 goes to the high-bit bytes.
 */
export function quantizeQ3_K(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  const levels = new Int8Array(K_BLOCK);
  const L = new Uint8Array(levels.buffer);
  const scales = new Float32Array(16);
  for (let b = 0; b < n; b += K_BLOCK, o += Q3_K_BYTES) {
    const x = s + b;
    for (let j = 0; j < 16; j++) scales[j] = makeQ3Quants(16, 4, src, x + 16 * j, levels, 16 * j);
    const maxScale = largestMagnitude(scales, 0, 16);
    dst.fill(0, o, o + Q3_K_BYTES);
    const sc = o + 96;
    if (maxScale !== 0) {
      const iscale = f(-32 / maxScale);
      for (let j = 0; j < 16; j++) {
        const l = Math.max(-32, Math.min(31, int8(nearestInt(f(iscale * scales[j]!))))) + 32;
        if (j < 8) dst[sc + j] = l & 15;
        else dst[sc + j - 8]! |= (l & 15) << 4;
        dst[sc + 8 + (j & 3)]! |= (l >>> 4) << (2 * (j >>> 2));
      }
      setU16(dst, o + 108, float32ToFloat16Bits(f(1 / iscale)));
    }
    const d16 = float16BitsToFloat32(dst[o + 108]! | (dst[o + 109]! << 8));
    for (let j = 0; j < 16; j++) {
      const d = f(d16 * (scaleQ3(dst, sc, j) - 32));
      if (d === 0) continue; // the group keeps makeQ3Quants' levels, as llama.cpp's does
      for (let i = 0; i < 16; i++) L[16 * j + i] = Math.max(-4, Math.min(3, nearestInt(f(src[x + 16 * j + i]! / d)))) + 4;
    }
    // the third bit of value v into bit v / 32 of high-bit byte v % 32
    for (let v = 0; v < K_BLOCK; v++) {
      if (L[v]! > 3) {
        dst[o + (v & 31)]! |= 1 << (v >>> 5);
        L[v] = L[v]! - 4;
      }
    }
    packLowBits(L, dst, o + 32);
  }
}
