import { float16BitsToFloat32, float16Table, float32ToFloat16Bits } from "../cpu/half.js";
import { qkx2Search, qxSearch } from "./searches_wasm.js";

/**
 * llama.cpp's K-quants, 256-value super-blocks (ggml's block_q4_K, block_q5_K and block_q6_K), as
 * GGUF files from llama-quantize hold them: read, and written as llama-quantize writes them without
 * an importance matrix (quantize_row_q4_K_ref / _q5_K_ref / _q6_K_ref's searches, in float32
 * steps). llama.cpp stores the output head of a Q4_0 model in Q6_K.
 */
export const K_BLOCK = 256;
export const Q4_K_BYTES = 144;
export const Q5_K_BYTES = 176;
export const Q6_K_BYTES = 210;

/** The float16 at byte o of src, as a number. */
export const f16 = (src: Uint8Array, o: number): number => float16Table()[src[o]! | (src[o + 1]! << 8)]!;

/** Writes the low 16 bits of `bits` at dst[o], little-endian (a float16's bits, or a u16 field). */
export function setU16(dst: Uint8Array, o: number, bits: number): void {
  dst[o] = bits & 0xff;
  dst[o + 1] = (bits >>> 8) & 0xff;
}

/** block_q4_K: d, dmin (f16), 12 bytes of 6-bit scales and mins for 8 sub-blocks of 32, 128 bytes of nibbles. */
export function dequantizeQ4_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  dequantizeScaleMin(src, o, n, dst, d, false);
}

/**
 * block_q5_K: Q4_K's d, dmin and scales, then 32 bytes of high bits, then the 128 bytes of nibbles:
 * value l of sub-block j is its nibble plus 16 times bit j of high-bit byte l % 32 (0-31).
 */
export function dequantizeQ5_K(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  dequantizeScaleMin(src, o, n, dst, d, true);
}

/** dequantize_row_q4_K / _q5_K: value = (d scale) q - dmin min, per sub-block of 32. */
function dequantizeScaleMin(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number, fifthBit: boolean): void {
  const f = Math.fround;
  const blockBytes = fifthBit ? Q5_K_BYTES : Q4_K_BYTES;
  for (let b = 0; b < n; b += K_BLOCK, o += blockBytes) {
    const dd = f16(src, o);
    const dmin = f16(src, o + 2);
    const sc = o + 4;
    const qh = o + 16;
    let q = fifthBit ? o + 48 : o + 16;
    let y = d + b;
    for (let j = 0, is = 0; j < K_BLOCK; j += 64, is += 2, q += 32) {
      const d1 = f(dd * scaleK4(src, sc, is));
      const m1 = f(dmin * minK4(src, sc, is));
      const d2 = f(dd * scaleK4(src, sc, is + 1));
      const m2 = f(dmin * minK4(src, sc, is + 1));
      for (let l = 0; l < 32; l++) {
        const high = fifthBit ? ((src[qh + l]! >>> is) & 1) << 4 : 0;
        dst[y++] = d1 * ((src[q + l]! & 15) | high) - m1;
      }
      for (let l = 0; l < 32; l++) {
        const high = fifthBit ? ((src[qh + l]! >>> (is + 1)) & 1) << 4 : 0;
        dst[y++] = d2 * ((src[q + l]! >>> 4) | high) - m2;
      }
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

export const int8 = (v: number): number => (v << 24) >> 24;

const magic = new Float32Array(1);
const magicBits = new Int32Array(magic.buffer);
/**
 * ggml's nearest_int: round half to even through the float32 magic-number add, then the low 23
 * bits of the sum (so values past 2^22, infinities and NaN wrap as in C rather than saturate).
 */
export function nearestInt(v: number): number {
  magic[0] = v + 12582912;
  return (magicBits[0]! & 0x007fffff) - 0x00400000;
}

export const GROUP_MAX_EPS = 1e-15;

/** The first of n values (x[xo..]) of the largest magnitude, as make_qx_quants / make_q3_quants find it (0 if all are 0). */
export function largestMagnitude(x: Float32Array, xo: number, n: number): number {
  let max = 0;
  let amax = 0;
  for (let i = 0; i < n; i++) {
    const ax = Math.abs(x[xo + i]!);
    if (ax > amax) {
      amax = ax;
      max = x[xo + i]!;
    }
  }
  return max;
}

/**
 * make_qx_quants(n, nmax, x, L, rmse_type = 1, no weights): a scale for n values and their levels
 * in L; the search in WebAssembly where it can (searches_wasm.ts's qx: the same floats).
 */
export function makeQxQuants(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
    L.fill(0, lo, lo + n);
    return 0;
  }
  return qxSearch(n, nmax, x, xo, max, L, lo) ?? makeQxQuantsJs(n, nmax, x, xo, L, lo);
}

/** makeQxQuants in JavaScript: where WebAssembly is not available, and the tests' reference for the wasm one. */
export function makeQxQuantsJs(n: number, nmax: number, x: Float32Array, xo: number, L: Uint8Array, lo: number): number {
  const f = Math.fround;
  const max = largestMagnitude(x, xo, n);
  if (Math.abs(max) < GROUP_MAX_EPS) {
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
    setU16(dst, o + 208, dBits);
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

/**
 * make_qkx2_quants: levels 0..nmax in L[lo..lo+n) and a scale and min for n values (x[xo..]) with
 * the given weights, value ~ scale * level - min: first the levels of the full range, then nstep + 1
 * other steps (nmax + rmin + rdelta * is over the range), each refit by weighted least squares,
 * the one of least weighted error kept: squared, or absolute with `useMad` (Q2_K). Returns
 * [scale, min] (min >= 0).
 */
export function makeQkx2Quants(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad = false,
): [number, number] {
  return (
    qkx2Search(n, nmax, x, xo, weights, L, lo, rmin, rdelta, nstep, useMad) ??
    makeQkx2QuantsJs(n, nmax, x, xo, weights, L, lo, Laux, rmin, rdelta, nstep, useMad)
  );
}

/** makeQkx2Quants in JavaScript: where WebAssembly is not available, and the tests' reference for the wasm one. */
export function makeQkx2QuantsJs(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  L: Uint8Array,
  lo: number,
  Laux: Uint8Array,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad = false,
): [number, number] {
  const f = Math.fround;
  let min = x[xo]!;
  let max = x[xo]!;
  let sumW = weights[0]!;
  let sumX = f(sumW * x[xo]!);
  for (let i = 1; i < n; i++) {
    const xi = x[xo + i]!;
    if (xi < min) min = xi;
    if (xi > max) max = xi;
    const w = weights[i]!;
    sumW = f(sumW + w);
    sumX = f(sumX + f(w * xi));
  }
  if (min > 0) min = 0;
  if (max === min) {
    L.fill(0, lo, lo + n);
    return [0, -min];
  }
  // min moves to each better candidate's, and later steps start from it (as llama.cpp's do)
  const level = (iscale: number, xi: number): number => Math.max(0, Math.min(nmax, nearestInt(f(iscale * f(xi - min)))));
  const error = (scale: number, m: number, levels: Uint8Array, at: number): number => {
    let sum = 0;
    for (let i = 0; i < n; i++) {
      const diff = f(f(f(scale * levels[at + i]!) + m) - x[xo + i]!);
      sum = f(sum + f(weights[i]! * (useMad ? Math.abs(diff) : f(diff * diff))));
    }
    return sum;
  };
  let iscale = f(nmax / f(max - min));
  let scale = f(1 / iscale);
  for (let i = 0; i < n; i++) L[lo + i] = level(iscale, x[xo + i]!);
  let bestError = error(scale, min, L, lo);
  for (let is = 0; is <= nstep; is++) {
    iscale = f(f(f(rmin + f(f(rdelta) * is)) + nmax) / f(max - min));
    let sumL = 0;
    let sumL2 = 0;
    let sumXL = 0;
    for (let i = 0; i < n; i++) {
      const l = level(iscale, x[xo + i]!);
      Laux[i] = l;
      const wl = f(weights[i]! * l);
      sumL = f(sumL + wl);
      sumL2 = f(sumL2 + f(wl * l));
      sumXL = f(sumXL + f(wl * x[xo + i]!));
    }
    const D = f(f(sumW * sumL2) - f(sumL * sumL));
    if (!(D > 0)) continue;
    let thisScale = f(f(f(sumW * sumXL) - f(sumX * sumL)) / D);
    let thisMin = f(f(f(sumL2 * sumX) - f(sumL * sumXL)) / D);
    if (thisMin > 0) {
      thisMin = 0;
      thisScale = f(sumXL / sumL2);
    }
    const e = error(thisScale, thisMin, Laux, 0);
    if (e < bestError) {
      L.set(Laux.subarray(0, n), lo);
      bestError = e;
      scale = thisScale;
      min = thisMin;
    }
  }
  return [scale, -min];
}

/** quantize_row_q4_K_ref: n values (a multiple of 256) of src from s into dst at byte o. */
export function quantizeQ4_K(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  quantizeScaleMin(src, s, n, dst, o, false);
}

/** quantize_row_q5_K_ref: as Q4_K with levels 0..31, the fifth bits apart. */
export function quantizeQ5_K(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  quantizeScaleMin(src, s, n, dst, o, true);
}

/**
 * Per super-block: each sub-block of 32 gets a scale and min from makeQkx2Quants (weights: the
 * sub-block's rms plus |x|), both quantized to 6 bits against the largest of them (d, dmin in
 * float16), then every value's level recomputed from those as (x + dmin m) / (d sc), clamped.
 */
function quantizeScaleMin(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number, fifthBit: boolean): void {
  const f = Math.fround;
  const nmax = fifthBit ? 31 : 15;
  const [rmin, nstep] = fifthBit ? [-0.5, 15] : [-1, 20];
  const blockBytes = fifthBit ? Q5_K_BYTES : Q4_K_BYTES;
  const L = new Uint8Array(K_BLOCK);
  const Laux = new Uint8Array(32);
  const weights = new Float32Array(32);
  const scales = new Float32Array(8);
  const mins = new Float32Array(8);
  for (let b = 0; b < n; b += K_BLOCK, o += blockBytes) {
    const x = s + b;
    let maxScale = 0;
    let maxMin = 0;
    for (let j = 0; j < 8; j++) {
      let sumX2 = 0;
      for (let l = 0; l < 32; l++) sumX2 = f(sumX2 + f(src[x + 32 * j + l]! * src[x + 32 * j + l]!));
      const avX = f(Math.sqrt(f(sumX2 / 32)));
      for (let l = 0; l < 32; l++) weights[l] = f(avX + Math.abs(src[x + 32 * j + l]!));
      [scales[j], mins[j]] = makeQkx2Quants(32, nmax, src, x + 32 * j, weights, L, 32 * j, Laux, rmin, 0.1, nstep);
      if (scales[j]! > maxScale) maxScale = scales[j]!;
      if (mins[j]! > maxMin) maxMin = mins[j]!;
    }
    const invScale = maxScale > 0 ? f(63 / maxScale) : 0;
    const invMin = maxMin > 0 ? f(63 / maxMin) : 0;
    dst.fill(0, o, o + blockBytes);
    const sc = o + 4;
    for (let j = 0; j < 8; j++) {
      const ls = Math.min(63, nearestInt(f(invScale * scales[j]!)) & 0xff);
      const lm = Math.min(63, nearestInt(f(invMin * mins[j]!)) & 0xff);
      if (j < 4) {
        dst[sc + j] = ls;
        dst[sc + j + 4] = lm;
      } else {
        dst[sc + j + 4] = (ls & 15) | ((lm & 15) << 4);
        dst[sc + j - 4]! |= (ls >> 4) << 6;
        dst[sc + j]! |= (lm >> 4) << 6;
      }
    }
    const dBits = float32ToFloat16Bits(f(maxScale / 63));
    const dminBits = float32ToFloat16Bits(f(maxMin / 63));
    setU16(dst, o, dBits);
    setU16(dst, o + 2, dminBits);
    const d16 = float16BitsToFloat32(dBits);
    const dmin16 = float16BitsToFloat32(dminBits);
    for (let j = 0; j < 8; j++) {
      const d = f(d16 * scaleK4(dst, sc, j));
      if (d === 0) continue; // the sub-block keeps makeQkx2Quants' levels, as llama.cpp's does
      const dm = f(dmin16 * minK4(dst, sc, j));
      for (let i = 0; i < 32; i++) L[32 * j + i] = Math.max(0, Math.min(nmax, nearestInt(f(f(src[x + 32 * j + i]! + dm) / d))));
    }
    // nibbles: values j .. j + 31 of each 64 low, j + 32 .. high; Q5_K's bit 4 of value l of
    // sub-block k into bit k of byte l % 32 of the high bits
    const q = o + (fifthBit ? 48 : 16);
    for (let c = 0; c < 4; c++) {
      for (let l = 0; l < 32; l++) {
        const low = L[64 * c + l]!;
        const high = L[64 * c + 32 + l]!;
        dst[q + 32 * c + l] = (low & 15) | ((high & 15) << 4);
        if (fifthBit) dst[o + 16 + l]! |= ((low >> 4) << (2 * c)) | ((high >> 4) << (2 * c + 1));
      }
    }
  }
}
