import { describe, expect, it } from "vitest";
import { CpuBackend, quantizeTensor, randn, Rng, tidy, withBackend, type Tensor } from "@llm/tensor";

/**
 * x @ W^T with W kept as float16 / bfloat16 / Q8_0 / Q4_0 / Q6_K equals x @ W'^T with W' the float32 values
 * W holds, on the WebAssembly SIMD kernels (decoding: 1-3 rows) and on the JS ones, for shapes
 * that do and do not fill a kernel's chunks and groups; more rows go through the GEMM path.
 */
function maxDiff(a: Tensor, b: Tensor): number {
  const x = a.dataSync();
  const y = b.dataSync();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}

describe.each([true, false])("wasm %s", (wasm) => {
  const backend = new CpuBackend({ wasm });
  for (const dtype of ["float16", "bfloat16", "q8_0", "q4_0", "q6_k"] as const) {
    for (const [rows, N, K] of [
      [1, 1, 32],
      [1, 37, 96],
      [3, 300, 64],
      [2, 5000, 128],
      [7, 70, 160],
      [1, 9, 36],
      [1, 33, 512],
      [2, 7, 256],
    ] as const) {
      if (dtype.startsWith("q") && K % (dtype === "q6_k" ? 256 : 32) !== 0) continue;
      it(`${dtype}: ${rows} x ${K} @ [${N}, ${K}]^T`, async () => {
        await withBackend(backend, async () => {
          const rng = new Rng(N * 31 + K);
          const w = randn([N, K], { rng });
          const x = randn([rows, K], { rng });
          const stored = dtype.startsWith("q") ? await quantizeTensor(w, dtype as "q8_0") : w.cast(dtype);
          const values = stored.cast("float32");
          const got = x.matmul(stored.transpose(0, 1));
          const want = x.matmul(values.transpose(0, 1));
          expect(got.dtype).toBe("float32");
          // float32 sums in another order: relative to sqrt(K) * |w| |x| ~ K^0.5
          expect(maxDiff(got, want)).toBeLessThanOrEqual(2e-5 * K);
        });
      });
    }
  }
});

// LoRA over a quantized base trains through x @ W^T, where W^T is a view made inside the step's tidy:
// the backward reads that view after the scope closed, so it must be kept for it.
it("the backward through a stored weight's view made inside tidy reads the view after the scope", async () => {
  const rng = new Rng(5);
  const w = await quantizeTensor(randn([16, 64], { rng }), "q8_0");
  const x = randn([3, 64], { rng }).requireGrad();
  const y = tidy(() => x.matmul(w.transpose(0, 1)).sum());
  y.backward();
  const want = tidy(() => w.cast("float32").sum(0).reshape([1, 64]).expand([3, 64]));
  expect(maxDiff(x.grad!, want)).toBeLessThan(1e-5);
});
