/**
 * Weights kept as stored on WebGPU: matmul (matrix-vector, small, tiled), take and cast read
 * float16, bfloat16, Q8_0 and Q4_0 weights as they are, and give the CPU backend's results.
 */
import { describe, expect, it } from "vitest";
import { cpuBackend, quantizeTensor, randn, tensor, toBackend, type Tensor } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(worst) ? Infinity : worst;
}

async function stored(w: Tensor, dtype: "float16" | "bfloat16" | "q8_0" | "q4_0"): Promise<Tensor> {
  return dtype === "q8_0" || dtype === "q4_0" ? quantizeTensor(w, dtype) : w.cast(dtype);
}

describe.skipIf(!backend).each(["float16", "bfloat16", "q8_0", "q4_0"] as const)("%s weights on WebGPU", (dtype) => {
  const gpu = backend!;
  it("reports the dtype as multiplied as stored", () => {
    expect(gpu.storedMatmulDTypes).toContain(dtype);
  });

  // [N, K] weights used as x @ W^T (blocks along K), rows 1 and 3 (GEMV), 40 (one thread per output), 130 (tiled)
  it.each([1, 3, 40, 130])("x [%i, 96] @ W^T, W [72, 96]: the CPU backend's product", async (M) => {
    const N = 72;
    const K = 96;
    const w = await stored(randn([N, K], { backend: cpuBackend, seed: 1 }), dtype);
    const x = randn([M, K], { backend: cpuBackend, seed: 2 });
    const want = x.matmul(w.transpose(0, 1));
    const [wg, xg] = [toBackend(w, gpu), toBackend(x, gpu)];
    expect(wg.dtype).toBe(dtype);
    const got = xg.matmul(wg.transpose(0, 1));
    expect(await maxDiff(got, want)).toBeLessThanOrEqual(1e-4);
    for (const t of [w, x, want, wg, xg, got]) t.dispose();
  });

  it("take (rows dequantized) and a cast to float32 equal the CPU backend's", async () => {
    const w = await stored(randn([10, 64], { backend: cpuBackend, seed: 3 }), dtype);
    const wg = toBackend(w, gpu);
    const idsCpu = tensor([3, 0, 9, 3, 7], { dtype: "int32", backend: cpuBackend });
    const rows = wg.take(toBackend(idsCpu, gpu), 0);
    const want = w.take(idsCpu, 0);
    expect(rows.dtype).toBe(dtype.startsWith("q") ? "float32" : dtype);
    expect(await maxDiff(rows.float(), want.float())).toBe(0);
    expect(await maxDiff(wg.float(), w.float())).toBe(0);
    // the bytes (or half bits) come back as they went up
    expect(Array.from(await wg.data())).toEqual(Array.from(await w.data()));
  });
});
