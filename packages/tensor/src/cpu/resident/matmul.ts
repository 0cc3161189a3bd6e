import { GEMM_ARGS, KC, MC, NC } from "../wasm/gemm_resident_module.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const DOT_ROWS = kernel("matvec", "dot_rows");
const AXPY_ROWS = kernel("matvec", "axpy_rows");
const GEMM = kernel("gemm", "gemm");
const GEMM_LIST = kernel("gemm", "gemm_list");

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * C[M,N] = A[M,K] B[K,N] on the resident kernels, reading B (the weight) where it lives: one row
 * (decoding) on the matrix-vector kernels in B's own layout, more rows on the GEMM (columns split
 * over threads). Returns false (nothing written) where B is not resident or a layout has no
 * resident kernel (negative strides); the caller then runs its own.
 */
export function residentMatmul(
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
): boolean {
  const rt = activeRuntime();
  if (rt === null || K === 0 || sbk < 0 || sbn < 0) return false;
  const home = rt.heap.locate(B);
  if (home === null) return false;
  const ops = new Operands(rt.heap, home);
  if (M > 1) {
    const ok = gemm(ops, M, N, K, A, oa, sam, sak, B, ob, sbk, sbn, C, oc);
    ops.done(ok);
    return ok;
  }
  let ok = false;
  try {
    const x = ops.input(A, oa, K, sak);
    const y = ops.output(C, oc, N);
    if (x === null || y === null) return false;
    const w = B.byteOffset + ob * 4;
    if (sbk === 1) {
      // B = W^T with W [N, K] rows contiguous (x @ W^T): one dot product per output
      const ldw = sbn * 4;
      const parts = splitRange(N, rt.partsForMatvec(N * K, Math.ceil(N / LINE)), LINE);
      rt.call(
        DOT_ROWS,
        home,
        parts.map(([n0, n1]) => [w + n0 * ldw, ldw, x, y + n0 * 4, n1 - n0, K]),
      );
    } else if (sbn === 1) {
      // B = W [K, N] rows contiguous (x @ W): rows of W added into y
      const ldw = sbk * 4;
      const parts = splitRange(N, rt.partsForMatvec(N * K, Math.ceil(N / LINE)), LINE);
      rt.call(
        AXPY_ROWS,
        home,
        parts.map(([j0, j1]) => [x, w + j0 * 4, ldw, y + j0 * 4, K, j1 - j0]),
      );
    } else {
      return false;
    }
    ok = true;
    return true;
  } finally {
    ops.done(ok);
  }
}

function gemm(
  ops: Operands,
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
): boolean {
  const rt = activeRuntime()!;
  // A is read in place with its strides when it is in B's memory, else copied there
  let a: number | null;
  let aRow = sam * 4;
  let aStep = sak * 4;
  if (sam >= 0 && sak >= 0 && rt.heap.locate(A) === ops.home) {
    a = A.byteOffset + oa * 4;
  } else {
    const copy = ops.scratch(M * K);
    if (copy === null) return false;
    for (let i = 0; i < M; i++) for (let p = 0; p < K; p++) copy[i * K + p] = A[oa + i * sam + p * sak]!;
    [a, aRow, aStep] = [copy.byteOffset, K * 4, 4];
  }
  const c = ops.output(C, oc, M * N);
  if (c === null) return false;
  // Scratch per part: its packed block of B and block of A, and an edge tile. Where the memory
  // cannot give that to every part, fewer parts (the same results: only the split changes).
  const kc4 = roundUp(Math.min(KC, K), 4);
  const packA = kc4 * roundUp(Math.min(MC, M), 2);
  // Threads split the longer side: each packs all of the other operand for its part, so rows
  // where M > N (a tall activation times a weight: every thread would pack all of A), else columns.
  const byRows = M > N;
  let args: number[][] | null = null;
  const mark = ops.mark();
  for (let count = rt.partsFor(M * N * K, Math.ceil((byRows ? M : N) / LINE)); args === null && count >= 1; count--) {
    args = [];
    for (const [p0, p1] of splitRange(byRows ? M : N, count, LINE)) {
      const [i0, rows, j0, j1] = byRows ? [p0, p1 - p0, 0, N] : [0, M, p0, p1];
      const packB = kc4 * roundUp(Math.min(NC, j1 - j0), LINE);
      const scratch = ops.scratch(packB + packA + 2 * LINE);
      if (scratch === null) {
        ops.releaseTo(mark);
        args = null;
        break;
      }
      const at = (floats: number): number => scratch.byteOffset + floats * 4;
      args.push([
        a + i0 * aRow,
        aRow,
        aStep,
        B.byteOffset + ob * 4,
        sbk * 4,
        sbn * 4,
        c + i0 * N * 4,
        N * 4,
        rows,
        K,
        j0,
        j1,
        at(0),
        at(packB + packA),
        at(packB),
      ]);
    }
  }
  if (args === null) return false;
  rt.call(GEMM, ops.home, args);
  return true;
}

/**
 * A batch of GEMMs C_e[M,N] = A_e[M,K] B_e[K,N] (entry e's operands at oa[e], ob[e], oc[e], the
 * same strides for all) as one call, threads taking whole entries: for batches of small products
 * (attention's per-head matmuls), where splitting each entry's columns would wake every thread
 * once per entry. Each entry is the same GEMM whoever runs it, so the results are those of
 * residentMatmul. Returns false (nothing written) where A, B and C are not all in one memory,
 * strides are negative, or the entries do not share out evenly over the threads (then each entry
 * splits its own columns): the caller then runs its own.
 */
export function residentMatmulBatch(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  oa: readonly number[],
  sam: number,
  sak: number,
  B: Float32Array,
  ob: readonly number[],
  sbk: number,
  sbn: number,
  C: Float32Array,
  oc: readonly number[],
): boolean {
  const rt = activeRuntime();
  const count = oa.length;
  // one row per entry is the matrix-vector kernels' (other bits than the GEMM's): not here
  if (rt === null || K === 0 || M < 2 || N === 0 || count < 2 || sam < 0 || sak < 0 || sbk < 0 || sbn < 0) return false;
  const home = rt.heap.locate(B);
  if (home === null || rt.heap.locate(A) !== home || rt.heap.locate(C) !== home) return false;
  // whole entries per thread where they share out evenly enough (else: columns split per entry)
  const parts = rt.partsFor(count * M * N * K, count);
  if (count % parts !== 0 && count < 4 * parts) return false;
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const kc4 = roundUp(Math.min(KC, K), 4);
    const packA = kc4 * roundUp(Math.min(MC, M), 2);
    const packB = kc4 * roundUp(Math.min(NC, N), LINE);
    const args: number[][] = [];
    for (const [e0, e1] of splitRange(count, parts, 1)) {
      const scratch = ops.scratch(packB + packA + 2 * LINE + GEMM_ARGS * (e1 - e0));
      if (scratch === null) return false;
      const at = (floats: number): number => scratch.byteOffset + floats * 4;
      const list = new Int32Array(scratch.buffer, at(packB + packA + 2 * LINE), GEMM_ARGS * (e1 - e0));
      for (let e = e0; e < e1; e++) {
        const entry = [
          A.byteOffset + oa[e]! * 4,
          sam * 4,
          sak * 4,
          B.byteOffset + ob[e]! * 4,
          sbk * 4,
          sbn * 4,
          C.byteOffset + oc[e]! * 4,
          N * 4,
          M,
          K,
          0,
          N,
          at(0),
          at(packB + packA),
          at(packB),
        ];
        list.set(entry, (e - e0) * GEMM_ARGS);
      }
      args.push([list.byteOffset, e1 - e0]);
    }
    rt.call(GEMM_LIST, home, args);
    ok = true;
    return true;
  } finally {
    ops.done(ok);
  }
}
