import { gemmShape } from "./gemm_module.js";
import { wasmGemm } from "./runtime.js";

/**
 * float32 GEMM C[M,N] = A[M,K] B[K,N] on the WASM SIMD kernel, blocked as in ../gemm.ts: per
 * (NC column, KC depth) block B is packed into wasm memory, per MC rows A is, and one `block` call
 * runs all the micro-tiles of the pair. C accumulates across K blocks in a padded M x NC panel in
 * wasm memory and is copied out once per column block. Packing absorbs strides, transposes and
 * broadcasts. Returns false (nothing written) when the module is unavailable or the product is too
 * small (under `minWork` multiply-adds, or a single row or under 4 columns) to pay for the packing
 * and copies, so the caller runs the JS kernel.
 */
const { MR, NR, U } = gemmShape;
const KC = 256;
const MC = 64;
const NC = 512;

/** Below this many multiply-adds the JS kernels win (call and copy overheads dominate). */
const MIN_WORK = 8 * 8 * 8;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export function gemmWasmF32(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  oa: number,
  sam: number,
  sak: number,
  B: Float32Array,
  ob: number,
  sbk: number,
  sbn: number,
  C: Float32Array,
  oc: number,
  minWork = MIN_WORK,
): boolean {
  if (K === 0 || M < 2 || N < 4 || M * N * K < minWork) return false;
  const gemm = wasmGemm();
  if (gemm === null) return false;
  const ncMax = Math.min(NC, roundUp(N, NR));
  const kcMax = roundUp(Math.min(KC, K), U);
  const mcMax = Math.min(MC, roundUp(M, MR));
  // float offsets of the packed A block, the packed B block and the C panel
  const aAt = 0;
  const bAt = aAt + mcMax * kcMax;
  const cAt = bAt + kcMax * ncMax;
  const f = gemm.f32((cAt + roundUp(M, MR) * ncMax) * 4);
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    const np = Math.ceil(nc / NR);
    const ldc = np * NR;
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const kcp = roundUp(kc, U);
      pack(B, ob + pc * sbk + jc * sbn, sbn, sbk, nc, kc, kcp, NR, f, bAt);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        pack(A, oa + ic * sam + pc * sak, sam, sak, mc, kc, kcp, MR, f, aAt);
        gemm.block(aAt * 4, bAt * 4, (cAt + ic * ldc) * 4, Math.ceil(mc / MR), np, kcp, ldc * 4, pc > 0 ? 1 : 0);
      }
    }
    for (let i = 0, s = cAt, d = oc + jc; i < M; i++, s += ldc, d += N) C.set(f.subarray(s, s + nc), d);
  }
  return true;
}

/**
 * Packs `rows` x `kc` of a matrix (row stride sr, k stride sk) into panels of `w` rows stored
 * k-major from dst[at]: panel q, step p, row r at at + q*kcp*w + p*w + r. Rows past the end and
 * steps past kc are zero (garbage could be NaN, or a denormal that slows the multiplies down).
 */
function pack(
  src: Float32Array,
  o: number,
  sr: number,
  sk: number,
  rows: number,
  kc: number,
  kcp: number,
  w: number,
  dst: Float32Array,
  at: number,
): void {
  for (let q = 0, row0 = 0; row0 < rows; q++, row0 += w) {
    const base = at + q * kcp * w;
    const full = Math.min(w, rows - row0);
    if (sr === 1 && full === w) {
      // the panel's rows are adjacent in memory: w contiguous floats per step of k
      for (let p = 0, s = o + row0, d = base; p < kc; p++, s += sk, d += w) {
        for (let r = 0; r < w; r++) dst[d + r] = src[s + r]!;
      }
    } else {
      for (let r = 0; r < w; r++) {
        let d = base + r;
        if (r < full) {
          for (let p = 0, s = o + (row0 + r) * sr; p < kc; p++, s += sk, d += w) dst[d] = src[s]!;
        } else {
          for (let p = 0; p < kc; p++, d += w) dst[d] = 0;
        }
      }
    }
    dst.fill(0, base + kc * w, base + kcp * w);
  }
}
