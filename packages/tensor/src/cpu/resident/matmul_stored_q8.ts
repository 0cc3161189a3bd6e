import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { viewData } from "../buffer.js";
import { q8RowBytes } from "../wasm/gemv_q8_resident_module.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const QUANTIZE = kernel("q8", "quantize_q8_0");
const KERNELS = { q8_0: kernel("q8", "gemv_q8_0"), q4_0: kernel("q8", "gemv_q4_0") } as const;

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;

/**
 * residentMatmulStored for activationRounding "ggml" over a Q8_0 or Q4_0 weight, as llama.cpp
 * computes it: the activation rows [rows, K] are quantized to Q8_0 blocks once (in the weight's
 * memory, on this thread), then threads take ranges of W's rows and run int8 dot products
 * (wasm/gemv_q8_resident_module.ts). The same values as roundActivationsLikeGgml then the float
 * kernel, summed in another order. Null (nothing done) where there is no runtime, W is not in the
 * heap, or its dtype or layout has no kernel here: the caller then rounds and runs the float kernels.
 */
export function residentMatmulStoredQ8(rows: number, N: number, K: number, A: Float32Array, b: StridedView): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || (dtype !== "q8_0" && dtype !== "q4_0")) return null;
  const r = b.shape.length;
  if (b.strides[r - 2] !== 1 || (N > 1 && b.strides[r - 1] !== K) || K % 32 !== 0 || b.offset % 32 !== 0) return null;
  const data = viewData(b);
  const home = rt.heap.locate(data);
  if (home === null) return null;
  const nb = K / 32;
  const rowBytes = nb * QUANT_BLOCKS[dtype].bytes;
  const w = data.byteOffset + (b.offset / 32) * QUANT_BLOCKS[dtype].bytes;
  const ldq = q8RowBytes(nb);
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const x = ops.input(A, 0, rows * K);
    const q = x === null ? null : ops.scratch((rows * ldq) / 4);
    const result = q === null ? null : ops.result(rows * N);
    if (x === null || q === null || result === null) return null;
    rt.call(QUANTIZE, home, [[x, q.byteOffset, rows, nb, K * 4, ldq]]);
    const parts = splitRange(N, rt.partsFor(rows * N * K, Math.ceil(N / LINE)), LINE);
    rt.call(
      KERNELS[dtype],
      home,
      parts.map(([n0, n1]) => [w + n0 * rowBytes, q.byteOffset, result.addr + n0 * 4, n1 - n0, nb, rowBytes, rows, ldq, N * 4]),
    );
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}
