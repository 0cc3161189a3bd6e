import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { GEMM_Q8_DTYPES, panelBytes, tilesBytes } from "../wasm/gemm_q8_resident_module.js";
import { GEMM_Q8K_DTYPES, panelBytesK, tilesBytesK } from "../wasm/gemm_q8k_resident_module.js";
import { q8KRowBytes } from "../wasm/gemv_q8_resident_module.js";
import { kernel, type KernelRef } from "./modules.js";
import { blockRows, Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

/** How a weight type's prefill GEMM gets its activations, and its kernel and scratch. */
interface GemmSpec {
  readonly gemm: KernelRef;
  /** Tiles of the rows: one kernel straight from float32 (the 32-value types), or Q8_K rows then interleaved. */
  readonly tiles: { readonly quantize: KernelRef } | { readonly rows: KernelRef; readonly interleave: KernelRef };
  tilesBytes(rows: number, nb: number): number;
  panelBytes(nb: number): number;
}

const SPECS: Record<string, GemmSpec> = {
  ...Object.fromEntries(
    GEMM_Q8_DTYPES.map((d): [string, GemmSpec] => [
      d,
      { gemm: kernel("q8_gemm", `gemm_q8_${d}`), tiles: { quantize: kernel("q8_gemm", `quantize_tiles_${d}`) }, tilesBytes, panelBytes },
    ]),
  ),
  ...Object.fromEntries(
    GEMM_Q8K_DTYPES.map((d): [string, GemmSpec] => [
      d,
      {
        gemm: kernel("q8k_gemm", `gemm_q8k_${d}`),
        tiles: { rows: kernel("q8", "quantize_q8_k"), interleave: kernel("q8k_gemm", `interleave_${d}`) },
        tilesBytes: tilesBytesK,
        panelBytes: panelBytesK,
      },
    ]),
  ),
};

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

/**
 * residentMatmulStoredQ8's prefill: out [rows, N] = A [rows, K] W^T for many activation rows over
 * a Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL, Q4_K, Q5_K or Q6_K weight W [N, K] in the resident heap, as llama.cpp
 * computes it (activationRounding "ggml"): A's rows quantized once (Q8_0; Q8_K for the K-quants), in tiles
 * of four rows (on this thread), then threads take ranges of W's rows and run the tiled int8 GEMM
 * (wasm/gemm_q8_resident_module.ts, wasm/gemm_q8k_resident_module.ts), each with a panel of its
 * own. The values of roundActivationsLikeGgml then the float kernel, summed in another order; the
 * same bits for any thread count and with or without relaxed SIMD. Null (nothing done) where there
 * is no runtime, W is not in the heap, or its dtype or layout has no kernel.
 */
export function residentGemmQ8(rows: number, N: number, K: number, A: Float32Array, b: StridedView): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  const spec = SPECS[dtype];
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || spec === undefined) return null;
  const { elements, bytes } = QUANT_BLOCKS[dtype as keyof typeof QUANT_BLOCKS];
  const weight = blockRows(rt.heap, b, N, K, elements, bytes);
  if (weight === null) return null;
  const { home, w, nb, rowBytes } = weight;
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const x = ops.input(A, 0, rows * K);
    const tiles = x === null ? null : ops.scratch(spec.tilesBytes(rows, nb) / 4);
    if (x === null || tiles === null) return null;
    if ("quantize" in spec.tiles) rt.call(spec.tiles.quantize, home, [[x, K * 4, rows, nb, tiles.byteOffset]]);
    else {
      const ldq = q8KRowBytes(nb);
      const q = ops.scratch((rows * ldq) / 4);
      if (q === null) return null;
      rt.call(spec.tiles.rows, home, [[x, q.byteOffset, rows, nb, K * 4, ldq]]);
      rt.call(spec.tiles.interleave, home, [[q.byteOffset, ldq, rows, nb, tiles.byteOffset]]);
    }
    const result = ops.result(rows * N);
    if (result === null) return null;
    // each part its panel
    const args = ops.partsWithScratch(
      rt.partsFor(rows * N * K, Math.ceil(N / LINE)),
      (count) => splitRange(N, count, LINE),
      () => spec.panelBytes(nb) / 4,
      (n0, n1, panel) => [w + n0 * rowBytes, rowBytes, nb, tiles.byteOffset, result.addr + n0 * 4, N * 4, rows, n1 - n0, panel.byteOffset],
    );
    if (args === null) {
      rt.heap.free(result.array);
      return null;
    }
    rt.call(spec.gemm, home, args);
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}
