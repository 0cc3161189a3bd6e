import { KC, MC, NC } from "../wasm/gemm_resident_module.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const DOT_ROWS = kernel("matvec", "dot_rows");
const AXPY_ROWS = kernel("matvec", "axpy_rows");
const GEMM = kernel("gemm", "gemm");

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
      const parts = splitRange(N, rt.partsFor(N * K, Math.ceil(N / LINE)), LINE);
      rt.call(
        DOT_ROWS,
        home,
        parts.map(([n0, n1]) => [w + n0 * ldw, ldw, x, y + n0 * 4, n1 - n0, K]),
      );
    } else if (sbn === 1) {
      // B = W [K, N] rows contiguous (x @ W): rows of W added into y
      const ldw = sbk * 4;
      const parts = splitRange(N, rt.partsFor(N * K, Math.ceil(N / LINE)), LINE);
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
  let args: number[][] | null = null;
  const mark = ops.mark();
  for (let count = rt.partsFor(M * N * K, Math.ceil(N / LINE)); args === null && count >= 1; count--) {
    args = [];
    for (const [j0, j1] of splitRange(N, count, LINE)) {
      const packB = kc4 * roundUp(Math.min(NC, j1 - j0), LINE);
      const scratch = ops.scratch(packB + packA + 2 * LINE);
      if (scratch === null) {
        ops.releaseTo(mark);
        args = null;
        break;
      }
      const at = (floats: number): number => scratch.byteOffset + floats * 4;
      args.push([a, aRow, aStep, B.byteOffset + ob * 4, sbk * 4, sbn * 4, c, N * 4, M, K, j0, j1, at(0), at(packB + packA), at(packB)]);
    }
  }
  if (args === null) return false;
  rt.call(GEMM, ops.home, args);
  return true;
}
