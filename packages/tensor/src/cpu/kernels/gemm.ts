import { gemvF32 } from "./gemv.js";

/**
 * Single-threaded float32 GEMM, C[M,N] = A[M,K] B[K,N], in the BLIS layout: B is packed per
 * (KC x NC) block into NR-wide column panels, A per (MC x KC) block into MR-tall row panels, both
 * as float64 so the micro-kernel never converts; the micro-kernel keeps an MR x NR (3 x 4) tile of C in
 * local variables (registers) and streams the two panels. Packing also absorbs any strides, so
 * transposed and broadcast operands cost nothing extra.
 */
const MR = 3;
const NR = 4;
const KC = 256;
const MC = 48;
const NC = 256;

const packA = new Float64Array(MC * KC);
const packB = new Float64Array(KC * NC);

export function gemmF32(
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
): void {
  if (K === 0) {
    C.fill(0, oc, oc + M * N);
    return;
  }
  // Fewer rows (columns) than a tile: one matrix-vector product per output row (column) wastes
  // nothing, where a GEMM would pad its panels with zeros.
  if (M < MR) {
    for (let i = 0; i < M; i++) gemvF32(N, K, B, ob, sbn, sbk, A, oa + i * sam, sak, C, oc + i * N);
    return;
  }
  if (N < NR) {
    if (N === 1) {
      gemvF32(M, K, A, oa, sam, sak, B, ob, sbk, C, oc);
      return;
    }
    const col = new Float32Array(M);
    for (let j = 0; j < N; j++) {
      gemvF32(M, K, A, oa, sam, sak, B, ob + j * sbn, sbk, col, 0);
      for (let i = 0; i < M; i++) C[oc + i * N + j] = col[i]!;
    }
    return;
  }
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    const ncPanels = Math.ceil(nc / NR);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      packPanels(B, ob + pc * sbk + jc * sbn, sbn, sbk, nc, kc, NR, packB);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        const mcPanels = Math.ceil(mc / MR);
        packPanels(A, oa + ic * sam + pc * sak, sam, sak, mc, kc, MR, packA);
        for (let jr = 0; jr < ncPanels; jr++) {
          const nr = Math.min(NR, nc - jr * NR);
          for (let ir = 0; ir < mcPanels; ir++) {
            const mr = Math.min(MR, mc - ir * MR);
            kernel3x4(packA, ir * kc * MR, packB, jr * kc * NR, kc, C, oc + (ic + ir * MR) * N + jc + jr * NR, N, mr, nr, pc > 0);
          }
        }
      }
    }
  }
}

/**
 * Packs `rows` x `kc` of a matrix (row stride sr, k stride sk) into panels of `w` rows, each panel
 * stored k-major: dst[panel*kc*w + p*w + r]. Rows past the end are zero so kernels run full tiles.
 */
function packPanels(src: Float32Array, o: number, sr: number, sk: number, rows: number, kc: number, w: number, dst: Float64Array): void {
  const panels = Math.ceil(rows / w);
  for (let q = 0; q < panels; q++) {
    const base = q * kc * w;
    for (let r = 0; r < w; r++) {
      const row = q * w + r;
      let d = base + r;
      if (row < rows) {
        let s = o + row * sr;
        for (let p = 0; p < kc; p++, s += sk, d += w) dst[d] = src[s]!;
      } else {
        for (let p = 0; p < kc; p++, d += w) dst[d] = 0;
      }
    }
  }
}

/**
 * C[c .. 3 rows, 4 cols] (+)= A panel (3 x kc) x B panel (kc x 4). Three rows: 12 accumulators,
 * 3 values of A and one of B at a time fill exactly the 16 SSE registers V8 allocates, so nothing
 * spills (measured ~10% faster than 4x4 here); B is loaded column by column to keep it that way.
 */
// prettier-ignore
// biome-ignore format: the 3x4 register block reads as a grid
function kernel3x4(
  pa: Float64Array,
  ia: number,
  pb: Float64Array,
  ib: number,
  kc: number,
  C: Float32Array,
  c: number,
  ldc: number,
  mr: number,
  nr: number,
  accumulate: boolean,
): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
  let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
  for (let p = 0; p < kc; p++, ia += 3, ib += 4) {
    const a0 = pa[ia]!, a1 = pa[ia + 1]!, a2 = pa[ia + 2]!;
    const b0 = pb[ib]!;
    c00 += a0 * b0; c10 += a1 * b0; c20 += a2 * b0;
    const b1 = pb[ib + 1]!;
    c01 += a0 * b1; c11 += a1 * b1; c21 += a2 * b1;
    const b2 = pb[ib + 2]!;
    c02 += a0 * b2; c12 += a1 * b2; c22 += a2 * b2;
    const b3 = pb[ib + 3]!;
    c03 += a0 * b3; c13 += a1 * b3; c23 += a2 * b3;
  }
  if (mr === 3 && nr === 4) {
    if (accumulate) {
      C[c] += c00; C[c + 1] += c01; C[c + 2] += c02; C[c + 3] += c03; c += ldc;
      C[c] += c10; C[c + 1] += c11; C[c + 2] += c12; C[c + 3] += c13; c += ldc;
      C[c] += c20; C[c + 1] += c21; C[c + 2] += c22; C[c + 3] += c23;
    } else {
      C[c] = c00; C[c + 1] = c01; C[c + 2] = c02; C[c + 3] = c03; c += ldc;
      C[c] = c10; C[c + 1] = c11; C[c + 2] = c12; C[c + 3] = c13; c += ldc;
      C[c] = c20; C[c + 1] = c21; C[c + 2] = c22; C[c + 3] = c23;
    }
    return;
  }
  storeEdge([c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23], C, c, ldc, mr, nr, accumulate);
}

/** Edge tile (padded rows/columns were computed on zeros): write only the valid part. */
function storeEdge(tile: number[], C: Float32Array, c: number, ldc: number, mr: number, nr: number, accumulate: boolean): void {
  for (let i = 0; i < mr; i++) {
    for (let j = 0; j < nr; j++) {
      const at = c + i * ldc + j;
      C[at] = accumulate ? C[at]! + tile[i * NR + j]! : tile[i * NR + j]!;
    }
  }
}
