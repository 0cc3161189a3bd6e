import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { viewData } from "../buffer.js";
import { GEMM_Q8_DTYPES, panelBytes, tilesBytes, type GemmQ8DType } from "../wasm/gemm_q8_resident_module.js";
import { kernel, type KernelRef } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const KERNELS = Object.fromEntries(
  GEMM_Q8_DTYPES.map((d) => [d, { gemm: kernel("q8_gemm", `gemm_q8_${d}`), quantize: kernel("q8_gemm", `quantize_tiles_${d}`) }]),
) as Record<GemmQ8DType, { gemm: KernelRef; quantize: KernelRef }>;

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

/**
 * residentMatmulStoredQ8's prefill: out [rows, N] = A [rows, K] W^T for many activation rows over
 * a Q8_0, Q4_0, Q5_0, Q4_1, Q5_1 or IQ4_NL weight W [N, K] in the resident heap, as llama.cpp computes it (activationRounding
 * "ggml"): A's rows quantized to Q8_0 once, in tiles of four rows (on this thread), then threads take ranges of W's rows
 * and run the tiled int8 GEMM (wasm/gemm_q8_resident_module.ts), each with a panel of its own. The
 * values of roundActivationsLikeGgml then the float kernel, summed in another order; the same bits
 * for any thread count and with or without relaxed SIMD. Null (nothing done) where there is no
 * runtime, W is not in the heap, or its dtype or layout has no kernel.
 */
export function residentGemmQ8(rows: number, N: number, K: number, A: Float32Array, b: StridedView): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || !(GEMM_Q8_DTYPES as readonly string[]).includes(dtype)) return null;
  const { elements, bytes } = QUANT_BLOCKS[dtype as GemmQ8DType];
  const r = b.shape.length;
  if (b.strides[r - 2] !== 1 || (N > 1 && b.strides[r - 1] !== K) || K % elements !== 0 || b.offset % elements !== 0) return null;
  const data = viewData(b);
  const home = rt.heap.locate(data);
  if (home === null) return null;
  const nb = K / elements;
  const rowBytes = nb * bytes;
  const w = data.byteOffset + (b.offset / elements) * bytes;
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const x = ops.input(A, 0, rows * K);
    const tiles = x === null ? null : ops.scratch(tilesBytes(rows, nb) / 4);
    const result = tiles === null ? null : ops.result(rows * N);
    if (x === null || tiles === null || result === null) return null;
    rt.call(KERNELS[dtype as GemmQ8DType].quantize, home, [[x, K * 4, rows, nb, tiles.byteOffset]]);
    // each part its panel; where the memory cannot give every part one, fewer parts (only the split changes)
    let args: number[][] | null = null;
    const mark = ops.mark();
    for (let count = rt.partsFor(rows * N * K, Math.ceil(N / LINE)); args === null && count >= 1; count--) {
      args = [];
      for (const [n0, n1] of splitRange(N, count, LINE)) {
        const panel = ops.scratch(panelBytes(nb) / 4);
        if (panel === null) {
          ops.releaseTo(mark);
          args = null;
          break;
        }
        args.push([w + n0 * rowBytes, rowBytes, nb, tiles.byteOffset, result.addr + n0 * 4, N * 4, rows, n1 - n0, panel.byteOffset]);
      }
    }
    if (args === null) {
      rt.heap.free(result.array);
      return null;
    }
    rt.call(KERNELS[dtype as GemmQ8DType].gemm, home, args);
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}
