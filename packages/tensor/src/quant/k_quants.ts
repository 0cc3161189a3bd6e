import { float16BitsToFloat32, float16Table, float32ToFloat16Bits } from "../cpu/half.js";

/**
 * llama.cpp's K-quants, 256-value super-blocks (ggml's block_q4_K and block_q6_K), as GGUF files
 * from llama-quantize hold them. Q4_K and Q6_K are read; Q6_K is also written, since llama.cpp
 * stores the output head of a Q4_0 model in it (quantize_row_q6_K_ref's search, float32 steps).
 */
export const K_BLOCK = 256;
export const Q4_K_BYTES = 144;
export const Q6_K_BYTES = 210;

const f16 = (src: Uint8Array, o: number): number => float16Table()[src[o]! | (src[o + 1]! << 8)]!;

/** block_q4_K: d, dmin (f16), 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, 128 bytes of nibbles. */
export function dequantizeQ4_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  const f = Math.fround;
  for (let b = 0; b < n; b += K_BLOCK, o += Q4_K_BYTES) {
    const dd = f16(src, o);
    const dmin = f16(src, o + 2);
    const sc = o + 4;
    let q = o + 16;
    let y = d + b;
    for (let j = 0, is = 0; j < K_BLOCK; j += 64, is += 2, q += 32) {
      const d1 = f(dd * scaleK4(src, sc, is));
      const m1 = f(dmin * minK4(src, sc, is));
      const d2 = f(dd * scaleK4(src, sc, is + 1));
      const m2 = f(dmin * minK4(src, sc, is + 1));
      for (let l = 0; l < 32; l++) dst[y++] = d1 * (src[q + l]! & 15) - m1;
      for (let l = 0; l < 32; l++) dst[y++] = d2 * (src[q + l]! >>> 4) - m2;
    }
  }
}

/** get_scale_min_k4's scale half. */
function scaleK4(s: Uint8Array, o: number, j: number): number {
  return j < 4 ? s[o + j]! & 63 : (s[o + j + 4]! & 15) | ((s[o + j - 4]! >>> 6) << 4);
}
/** get_scale_min_k4's min half. */
function minK4(s: Uint8Array, o: number, j: number): number {
  return j < 4 ? s[o + j + 4]! & 63 : (s[o + j + 4]! >>> 4) | ((s[o + j]! >>> 6) << 4);
}

/** block_q6_K: 128 bytes of low nibbles, 64 of high 2-bit pairs, 16 int8 scales, then d (f16). */
export function dequantizeQ6_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  for (let b = 0; b < n; b += K_BLOCK, o += Q6_K_BYTES) {
    const dd = f16(src, o + 208);
    let ql = o;
    let qh = o + 128;
    let sc = o + 192;
    for (let half = 0; half < 2; half++, ql += 64, qh += 32, sc += 8) {
      const y = d + b + half * 128;
      for (let l = 0; l < 32; l++) {
        const is = l >> 4;
        const h = src[qh + l]!;
        const q1 = ((src[ql + l]! & 15) | ((h & 3) << 4)) - 32;
        const q2 = ((src[ql + l + 32]! & 15) | (((h >>> 2) & 3) << 4)) - 32;
        const q3 = ((src[ql + l]! >>> 4) | (((h >>> 4) & 3) << 4)) - 32;
        const q4 = ((src[ql + l + 32]! >>> 4) | (((h >>> 6) & 3) << 4)) - 32;
        dst[y + l] = Math.fround(dd * int8(src[sc + is]!)) * q1;
        dst[y + l + 32] = Math.fround(dd * int8(src[sc + is + 2]!)) * q2;
        dst[y + l + 64] = Math.fround(dd * int8(src[sc + is + 4]!)) * q3;
        dst[y + l + 96] = Math.fround(dd * int8(src[sc + is + 6]!)) * q4;
      }
    }
  }
}

const int8 = (v: number): number => (v << 24) >> 24;

/** ggml's nearest_int: round half to even through the float32 magic-number add. */
const nearestInt = (v: number): number => Math.fround(v + 12582912) - 12582912;

const GROUP_MAX_EPS = 1e-15;

/** make_qx_quants(n, nmax, x, L, rmse_type = 1, no weights): a scale for n values and their levels in L. */
function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const f = Math.fround;
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  if (amax < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  const clampL = (l: number): number => Math.max(-nmax, Math.min(nmax - 1, l));
  const sums = (iscale: number): [number, number] => {
    let sumlx = 0;
    let suml2 = 0;
    for (let i = 0; i < n; i++) {
      const xi = x[xo + i]!;
      const l = clampL(nearestInt(f(iscale * xi)));
      const w = f(xi * xi);
      sumlx = f(sumlx + f(f(w * xi) * l));
      suml2 = f(suml2 + f(f(w * l) * l));
    }
    return [sumlx, suml2];
  };
  let iscale = f(-nmax / max);
  for (let i = 0; i < n; i++) L[lo + i] = clampL(nearestInt(f(iscale * x[xo + i]!))) + nmax;
  let [sumlx, suml2] = sums(iscale);
  let scale = suml2 !== 0 ? f(sumlx / suml2) : 0;
  let best = f(scale * sumlx);
  for (let is = -9; is <= 9; is++) {
    if (is === 0) continue;
    iscale = f(-f(nmax + f(f(0.1) * is)) / max);
    [sumlx, suml2] = sums(iscale);
    if (suml2 > 0 && f(sumlx * sumlx) > f(best * suml2)) {
      for (let i = 0; i < n; i++) L[lo + i] = nmax + clampL(nearestInt(f(iscale * x[xo + i]!)));
      scale = f(sumlx / suml2);
      best = f(scale * sumlx);
    }
  }
  return scale;
}

/** quantize_row_q6_K_ref: n values (a multiple of 256) of src from s into dst at byte o. */
export function quantizeQ6_K(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const f = Math.fround;
  const L = new Uint8Array(K_BLOCK);
  const scales = new Float32Array(K_BLOCK / 16);
  for (let b = 0; b < n; b += K_BLOCK, o += Q6_K_BYTES) {
    const x = s + b;
    let maxScale = 0;
    let maxAbsScale = 0;
    for (let ib = 0; ib < K_BLOCK / 16; ib++) {
      const scale = makeQxQuants(16, 32, src, x + 16 * ib, L, 16 * ib);
      scales[ib] = scale;
      if (Math.abs(scale) > maxAbsScale) {
        maxAbsScale = Math.abs(scale);
        maxScale = scale;
      }
    }
    dst.fill(0, o, o + Q6_K_BYTES);
    if (maxAbsScale < GROUP_MAX_EPS) continue; // all zero, d = +0
    const iscale = f(-128 / maxScale);
    const dBits = float32ToFloat16Bits(f(1 / iscale));
    dst[o + 208] = dBits & 0xff;
    dst[o + 209] = dBits >>> 8;
    const d16 = float16BitsToFloat32(dBits);
    for (let ib = 0; ib < K_BLOCK / 16; ib++) dst[o + 192 + ib] = Math.min(127, nearestInt(f(iscale * scales[ib]!))) & 0xff;
    for (let j = 0; j < K_BLOCK / 16; j++) {
      const d = f(d16 * int8(dst[o + 192 + j]!));
      if (d === 0) continue;
      for (let ii = 0; ii < 16; ii++) {
        const l = nearestInt(f(src[x + 16 * j + ii]! / d));
        L[16 * j + ii] = Math.max(-32, Math.min(31, l)) + 32;
      }
    }
    let ql = o;
    let qh = o + 128;
    for (let j = 0; j < K_BLOCK; j += 128, ql += 64, qh += 32) {
      for (let l = 0; l < 32; l++) {
        const [a, bq, c, e] = [L[j + l]!, L[j + l + 32]!, L[j + l + 64]!, L[j + l + 96]!];
        dst[ql + l] = (a & 15) | ((c & 15) << 4);
        dst[ql + l + 32] = (bq & 15) | ((e & 15) << 4);
        dst[qh + l] = (a >>> 4) | ((bq >>> 4) << 2) | ((c >>> 4) << 4) | ((e >>> 4) << 6);
      }
    }
  }
}
