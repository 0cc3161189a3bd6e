import { gemmShape } from "./gemm_module.js";
import { gemvWasmF32 } from "./gemv.js";
import { wasmGemm } from "./runtime.js";
import { stageA, stageB, stagedASize, stagedBSize } from "./stage.js";

/**
 * float32 GEMM C[M,N] = A[M,K] B[K,N] on the WASM SIMD kernel, blocked as in ../kernels/gemm.ts: per
 * (NC column, KC depth) block B is staged into wasm memory, per MC rows A is, and one `block` call
 * runs all the micro-tiles of the pair. C accumulates across K blocks in a padded M x NC panel in
 * wasm memory and is copied out once per column block. Staging absorbs strides, transposes and
 * broadcasts. Returns false (nothing written) when the module is unavailable or the product is too
 * small (under `minWork` multiply-adds, a small single row, or under 4 columns) to pay for the
 * copies, so the caller runs the JS kernel.
 */
const { MR, NR } = gemmShape;
const KC = 256;
const MC = 64;
const NC = 512;

/**
 * Below this many multiply-adds the JS kernels win (call and copy overheads dominate): measured
 * ~2 GFLOP/s either way at 16^3, 12 vs 3 at 32^3.
 */
const MIN_WORK = 16 * 16 * 32;
/**
 * A single row (decoding) is a matrix-vector product: each element of B is used once, so the copy
 * into wasm memory costs about what the JS kernel does; it pays from large weights on (768 x 2304:
 * 4.7 vs 2.0 GFLOP/s; 64 x 128: even).
 */
const MIN_VECTOR_WORK = 256 * 256;

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
  if (K === 0 || N < 4 || M * N * K < (M === 1 ? Math.max(minWork, MIN_VECTOR_WORK) : minWork)) return false;
  // one row (decoding): a matrix-vector product on the matrix as laid out, when it can be
  if (M === 1 && gemvWasmF32(N, K, A, oa, sak, B, ob, sbk, sbn, C, oc)) return true;
  const gemm = wasmGemm();
  if (gemm === null) return false;
  const ncMax = Math.min(NC, N);
  const kcMax = Math.min(KC, K);
  // float offsets (cache-line aligned) of the staged A block, the staged B block and the C panel
  const aAt = 0;
  const bAt = roundUp(aAt + stagedASize(Math.min(MC, M), kcMax, MR), 16);
  const cAt = roundUp(bAt + stagedBSize(kcMax, ncMax, NR), 16);
  const f = gemm.f32((cAt + roundUp(M, MR) * roundUp(ncMax, NR)) * 4);
  if (f === null) return false;
  for (let jc = 0; jc < N; jc += NC) {
    const nc = Math.min(NC, N - jc);
    const np = Math.ceil(nc / NR);
    const ldc = np * NR;
    for (let pc = 0; pc < K; pc += KC) {
      const kc = Math.min(KC, K - pc);
      const b = stageB(B, ob + pc * sbk + jc * sbn, sbk, sbn, nc, kc, NR, f, bAt, gemm.transpose);
      for (let ic = 0; ic < M; ic += MC) {
        const mc = Math.min(MC, M - ic);
        const a = stageA(A, oa + ic * sam + pc * sak, sam, sak, mc, kc, MR, f, aAt);
        // byte addresses and strides; a single row runs on the one-row kernel (no padding row)
        const [run, mp] = M === 1 ? [gemm.row, 1] : [gemm.block, Math.ceil(mc / MR)];
        run(
          aAt * 4,
          bAt * 4,
          (cAt + ic * ldc) * 4,
          mp,
          np,
          kc,
          ldc * 4,
          pc > 0 ? 1 : 0,
          a.step * 4,
          a.row * 4,
          a.panel * 4,
          b.step * 4,
          b.panel * 4,
        );
      }
    }
    for (let i = 0, s = cAt, d = oc + jc; i < M; i++, s += ldc, d += N) C.set(f.subarray(s, s + nc), d);
  }
  return true;
}
