import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend, noGrad, tensor, withBackend } from "@llm/tensor";
import { quantize } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { fixtureNames, readFixture } from "./fixture_files.js";

// Every fixture model, in every weight dtype and both activation roundings, prefills 20 tokens
// and decodes 3 on the resident WebAssembly kernels: no product falls back to a slower path
// (CpuBackend.kernelCounts). A float16 GPT-2 once decoded through a JS loop because its Conv1D
// weights were kept [in, out] (347 ms a token instead of 33), with every other test green: this
// is the test that says so. (GLM is left out: its forward needs its 2D block positions; its
// products are the same Linear layers as every other fixture's.)

const roundings = ["none", "ggml"] as const;
const backends = Object.fromEntries(roundings.map((r) => [r, new CpuBackend({ threads: 1, activationRounding: r })]));
afterAll(() => {
  for (const b of Object.values(backends)) b.close();
});

const DTYPES = ["float32", "float16", "bfloat16", "q8_0", "q4_0", "q6_k"] as const;

describe.each(fixtureNames().filter((name) => name !== "glm"))("%s fixture on the fast path", (name) => {
  for (const rounding of roundings) {
    it(`every dtype, activations rounded "${rounding}": prefill and decoding run on resident kernels only`, async () => {
      const f = await readFixture(name);
      const backend = backends[rounding]!;
      const vocab = Number(f.config.vocab_size);
      for (const dtype of DTYPES) {
        const model = await quantize(await loadModel(f.dir, { backend }), dtype);
        const before = backend.kernelCounts();
        const ran = withBackend(backend, () =>
          noGrad(() => {
            const cache = model.createCache();
            let logits = model.forward(tensor([Array.from({ length: 20 }, (_, i) => (7 * i + 3) % vocab)], { dtype: "int32" }), { cache });
            for (let step = 0; step < 3; step++) {
              logits.dispose();
              logits = model.forward(tensor([[(11 * step + 5) % vocab]], { dtype: "int32" }), { cache });
            }
            const finite = Array.from(logits.dataSync()).every(Number.isFinite);
            // the cache knows the model's context: its buffers grow to it at once when the prompt's fill
            expect(cache.layers.map((l) => l.maxPositions)).toEqual(cache.layers.map(() => model.config.maxPositions));
            logits.dispose();
            cache.dispose();
            return finite;
          }),
        );
        const after = backend.kernelCounts();
        const fellBack = Object.entries(after.fallbacks)
          .map(([what, n]) => [what, n - (before.fallbacks[what] ?? 0)] as const)
          .filter(([, n]) => n > 0);
        const kernels = Object.entries(after.kernels).filter(([k, n]) => n > (before.kernels[k] ?? 0)).length;
        expect(ran, `${dtype}: finite logits`).toBe(true);
        expect(kernels, `${dtype}: resident kernels ran`).toBeGreaterThan(0);
        expect(Object.fromEntries(fellBack), `${name} ${dtype} (${rounding}): products off the resident kernels`).toEqual({});
        model.dispose();
      }
    });
  }
});
