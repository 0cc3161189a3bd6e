import { wasmGemv } from "./runtime.js";

/** Floats of the matrix staged per kernel call: a chunk stays in cache, and wasm memory small. */
const CHUNK = 1 << 16;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * C[0, :N] = A[0, :K] B[K, N] for one row (decoding) on the WASM SIMD GEMV kernels, when B's rows
 * or columns are contiguous (a weight used as x @ W or x @ W^T): the matrix is staged a chunk of
 * rows at a time with plain row copies, instead of being packed into the GEMM's panels. Returns
 * false (nothing written) for other layouts or without the module; the caller then takes the GEMM.
 */
export function gemvWasmF32(
  N: number,
  K: number,
  A: Float32Array,
  oa: number,
  sak: number,
  B: Float32Array,
  ob: number,
  sbk: number,
  sbn: number,
  C: Float32Array,
  oc: number,
): boolean {
  if (sbn === 1) return rowsOfB(N, K, A, oa, sak, B, ob, sbk, C, oc);
  if (sbk === 1) return columnsOfB(N, K, A, oa, sak, B, ob, sbn, C, oc);
  return false;
}

/** B's rows contiguous ([K, N], x @ W): y += x[k] B[k, :] over chunks of rows. */
function rowsOfB(
  N: number,
  K: number,
  A: Float32Array,
  oa: number,
  sak: number,
  B: Float32Array,
  ob: number,
  sbk: number,
  C: Float32Array,
  oc: number,
): boolean {
  const g = wasmGemv();
  const N4 = roundUp(N, 4);
  const rows = Math.max(1, Math.min(K, Math.floor(CHUNK / N4)));
  // layout (floats): y [N4], x [K], then a chunk of B rows, N4 apart
  const xAt = N4;
  const bAt = roundUp(xAt + K, 4);
  const mem = g?.f32((bAt + rows * N4) * 4);
  if (!g || !mem) return false;
  mem.fill(0, 0, N4);
  for (let k = 0; k < K; k++) mem[xAt + k] = A[oa + k * sak]!;
  for (let k0 = 0; k0 < K; k0 += rows) {
    const kc = Math.min(rows, K - k0);
    for (let r = 0; r < kc; r++) {
      const s = ob + (k0 + r) * sbk;
      mem.set(B.subarray(s, s + N), bAt + r * N4);
      if (N4 !== N) mem.fill(0, bAt + r * N4 + N, bAt + (r + 1) * N4);
    }
    g.gemvN((xAt + k0) * 4, bAt * 4, 0, kc, N4 / 4, N4 * 4);
  }
  C.set(mem.subarray(0, N), oc);
  return true;
}

/** B's columns contiguous (B = W^T, W [N, K] row-major, x @ W^T): y[n] = W[n, :] . x over chunks of rows of W. */
function columnsOfB(
  N: number,
  K: number,
  A: Float32Array,
  oa: number,
  sak: number,
  B: Float32Array,
  ob: number,
  sbn: number,
  C: Float32Array,
  oc: number,
): boolean {
  const g = wasmGemv();
  const K4 = roundUp(K, 4);
  const rows = Math.max(1, Math.min(N, Math.floor(CHUNK / K4)));
  // layout (floats): x [K4], y [rows], then a chunk of W rows, K4 apart
  const yAt = K4;
  const wAt = roundUp(yAt + rows, 4);
  const mem = g?.f32((wAt + rows * K4) * 4);
  if (!g || !mem) return false;
  for (let k = 0; k < K; k++) mem[k] = A[oa + k * sak]!;
  mem.fill(0, K, K4);
  for (let n0 = 0; n0 < N; n0 += rows) {
    const nc = Math.min(rows, N - n0);
    for (let r = 0; r < nc; r++) {
      const s = ob + (n0 + r) * sbn;
      mem.set(B.subarray(s, s + K), wAt + r * K4);
      if (K4 !== K) mem.fill(0, wAt + r * K4 + K, wAt + (r + 1) * K4);
    }
    g.gemvT(wAt * 4, 0, yAt * 4, nc, K4 / 4, K4 * 4);
    C.set(mem.subarray(yAt, yAt + nc), oc + n0);
  }
  return true;
}
