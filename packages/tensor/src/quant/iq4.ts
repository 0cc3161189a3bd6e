import { float32ToFloat16Bits } from "../cpu/half.js";
import { f16, GROUP_MAX_EPS, largestMagnitude, nearestInt, setU16 } from "./k_quants.js";
import { IQ4_VALUES } from "./iq4_values.js";
import { iq4Search } from "./searches_wasm.js";

/**
 * llama.cpp's non-linear 4-bit types (ggml's block_iq4_nl and block_iq4_xs): each nibble indexes
 * IQ4_VALUES, denser near zero than Q4_0's even levels. IQ4_NL: 32 values a block, an f16 scale
 * then Q4_0's 16 bytes of nibbles (values j and j + 16 share byte j, low nibble first). IQ4_XS:
 * 256 values, an f16 d, the high two bits of eight 6-bit scales (u16), their low four bits (4
 * bytes), then eight sub-blocks of 32 laid out as IQ4_NL's. Read, and written as llama-quantize
 * writes them without an importance matrix (quantize_iq4_nl / quantize_iq4_xs: seven steps either
 * side of the first scale), in float32 steps.
 */
export const IQ4_NL_BYTES = 18;
export const IQ4_XS_BYTES = 136;

export { IQ4_VALUES };

/** The 32 values of one sub-block at dst[d..], scale dl times the levels of the 16 bytes of nibbles at byte q. */
function decodeNibbles(src: Uint8Array, q: number, dl: number, dst: Float32Array, d: number): void {
  for (let j = 0; j < 16; j++) {
    dst[d + j] = dl * IQ4_VALUES[src[q + j]! & 15]!;
    dst[d + j + 16] = dl * IQ4_VALUES[src[q + j]! >>> 4]!;
  }
}

export function dequantizeIQ4_NL(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  for (let b = 0; b < n; b += 32, o += IQ4_NL_BYTES) decodeNibbles(src, o + 2, f16(src, o), dst, d + b);
}

/** The 6-bit scale (stored + 32) of sub-block j (0-7) of the IQ4_XS block at byte o. */
export function scaleIQ4_XS(src: Uint8Array, o: number, j: number): number {
  const low = (src[o + 4 + (j >>> 1)]! >>> (4 * (j & 1))) & 15;
  const high = ((src[o + 2]! | (src[o + 3]! << 8)) >>> (2 * j)) & 3;
  return low | (high << 4);
}

export function dequantizeIQ4_XS(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  for (let b = 0; b < n; b += 256, o += IQ4_XS_BYTES) {
    const dd = f16(src, o);
    for (let j = 0; j < 8; j++) decodeNibbles(src, o + 8 + 16 * j, Math.fround(dd * (scaleIQ4_XS(src, o, j) - 32)), dst, d + b + 32 * j);
  }
}

/**
 * best_index_int8: the index of the level nearest x (values sorted), by bisection; a tie, or a
 * float32 difference that rounds to one, goes to the upper level, as ggml's comparison of
 * x - below < above - x does.
 */
function bestIndex(x: number): number {
  const v = IQ4_VALUES;
  if (x <= v[0]!) return 0;
  if (x >= v[15]!) return 15;
  let lo = 0;
  let hi = 15;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (x < v[mid]!) hi = mid;
    else lo = mid;
  }
  return Math.fround(x - v[hi - 1]!) < Math.fround(v[hi]! - x) ? hi - 1 : hi;
}

/**
 * The scale of the 32 values at src[xb..] whose first largest magnitude is max (non-zero):
 * quantize_row_iq4_nl_impl's search (the least-squares scale over the levels of d = max /
 * IQ4_VALUES[0], then of (itry + IQ4_VALUES[0]) / max for itry in [-ntry, ntry], the best kept),
 * in WebAssembly where it can (searches_wasm.ts's iq4: the same floats).
 */
export function searchScale(src: Float32Array, xb: number, max: number, ntry: number): number {
  return iq4Search(src, xb, max, ntry) ?? searchScaleJs(src, xb, max, ntry);
}

/** searchScale in JavaScript: where WebAssembly is not available, and the tests' reference for the wasm one. */
export function searchScaleJs(src: Float32Array, xb: number, max: number, ntry: number): number {
  const f = Math.fround;
  const v = IQ4_VALUES;
  const sums = (id: number): [number, number] => {
    let sumqx = 0;
    let sumq2 = 0;
    for (let j = 0; j < 32; j++) {
      const xj = src[xb + j]!;
      const q = v[bestIndex(f(id * xj))]!;
      const w = f(xj * xj);
      sumqx = f(sumqx + f(f(w * q) * xj));
      sumq2 = f(sumq2 + f(f(w * q) * q));
    }
    return [sumqx, sumq2];
  };
  let [sumqx, sumq2] = sums(f(1 / f(-max / v[0]!)));
  let d = sumq2 > 0 ? f(sumqx / sumq2) : 0;
  let best = f(d * sumqx);
  for (let itry = -ntry; itry <= ntry; itry++) {
    [sumqx, sumq2] = sums(f((itry + v[0]!) / max));
    if (sumq2 > 0 && f(sumqx * sumqx) > f(best * sumq2)) {
      d = f(sumqx / sumq2);
      best = f(d * sumqx);
    }
  }
  return d;
}

/**
 * quantize_row_iq4_nl_impl without an importance matrix (weights x^2), ntry 7: for each sub-block
 * of 32 the least-squares scale over the levels from d = max / 127 and from 15 other steps
 * (itry - 127) / max, the best kept; IQ4_XS then quantizes the eight scales to 6 bits against the
 * largest (d = -max / 32, f16) and picks every level again from its sub-block's scale.
 * Writes the block at dst[o..]: IQ4_NL (superBlock 32) or IQ4_XS (superBlock 256).
 */
function quantizeBlock(
  src: Float32Array,
  x: number,
  superBlock: number,
  dst: Uint8Array,
  o: number,
  L: Uint8Array,
  scales: Float32Array,
): void {
  const f = Math.fround;
  const ntry = 7;
  const nb = superBlock / 32;
  let maxScale = 0;
  let amaxScale = 0;
  for (let ib = 0; ib < nb; ib++) {
    const xb = x + 32 * ib;
    const max = largestMagnitude(src, xb, 32);
    if (Math.abs(max) < GROUP_MAX_EPS) {
      scales[ib] = 0;
      continue;
    }
    const d = searchScale(src, xb, max, ntry);
    scales[ib] = d;
    if (Math.abs(d) > amaxScale) {
      amaxScale = Math.abs(d);
      maxScale = d;
    }
  }
  dst.fill(0, o, o + (nb > 1 ? IQ4_XS_BYTES : IQ4_NL_BYTES));
  let q4 = o + 2;
  if (nb > 1) {
    q4 = o + 8;
    const d = f(-maxScale / 32);
    const dBits = float32ToFloat16Bits(d);
    setU16(dst, o, dBits);
    const id = d !== 0 ? f(1 / d) : 0;
    let scalesH = 0;
    for (let ib = 0; ib < nb; ib++) {
      const l = Math.max(-32, Math.min(31, nearestInt(f(id * scales[ib]!))));
      const dl = f(d * l);
      const idl = dl !== 0 ? f(1 / dl) : 0;
      for (let j = 0; j < 32; j++) L[32 * ib + j] = bestIndex(f(idl * src[x + 32 * ib + j]!));
      dst[o + 4 + (ib >>> 1)]! |= ((l + 32) & 15) << (4 * (ib & 1));
      scalesH |= ((l + 32) >>> 4) << (2 * ib);
    }
    setU16(dst, o + 2, scalesH);
  } else {
    const dBits = float32ToFloat16Bits(scales[0]!);
    setU16(dst, o, dBits);
    const id = scales[0] !== 0 ? f(1 / scales[0]!) : 0;
    for (let j = 0; j < 32; j++) L[j] = bestIndex(f(id * src[x + j]!));
  }
  for (let i = 0; i < nb; i++) for (let j = 0; j < 16; j++) dst[q4 + 16 * i + j] = L[32 * i + j]! | (L[32 * i + 16 + j]! << 4);
}

/** quantize_iq4_nl (no importance matrix): n values (a multiple of 32) of src from s into dst at byte o. */
export function quantizeIQ4_NL(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const L = new Uint8Array(32);
  const scales = new Float32Array(1);
  for (let b = 0; b < n; b += 32, o += IQ4_NL_BYTES) quantizeBlock(src, s + b, 32, dst, o, L, scales);
}

/** quantize_iq4_xs (no importance matrix): n values (a multiple of 256) of src from s into dst at byte o. */
export function quantizeIQ4_XS(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  const L = new Uint8Array(256);
  const scales = new Float32Array(8);
  for (let b = 0; b < n; b += 256, o += IQ4_XS_BYTES) quantizeBlock(src, s + b, 256, dst, o, L, scales);
}
