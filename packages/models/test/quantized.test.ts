import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad, type Tensor } from "@llm/tensor";
import { quantize, type Model } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { batchOptions, fixtureNames, greedy, maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

/**
 * Q8_0 and Q4_0 models: what the quantized kernels compute must equal float32 on the dequantized
 * weights (the kernels add nothing but float32 rounding); the distance to the float32 reference is
 * what the quantization itself costs, reported and bounded; the dtype of each weight follows
 * llama.cpp's rules (weightDType).
 */
async function dequantized(model: Model): Promise<Model> {
  return quantize(model, "float32");
}

describe.each(fixtureNames())("%s fixture quantized", (name) => {
  let f: Fixture;
  const models: Model[] = [];
  beforeAll(async () => {
    f = await readFixture(name);
  });
  afterAll(() => {
    for (const m of models) m.dispose();
  });

  for (const type of ["q8_0", "q4_0"] as const) {
    it(`${type}: the kernels equal float32 on the same values; loading as ${type} equals quantizing after loading`, async () => {
      const loaded = await loadModel(f.dir, { dtype: type });
      const converted = await quantize(await loadModel(f.dir), type);
      const widened = await dequantized(await loadModel(f.dir, { dtype: type }));
      models.push(loaded, converted, widened);
      const kinds = new Set<string>();
      for (const [key, p] of Object.entries(loaded.stateDict())) {
        const twin = converted.stateDict()[key]!;
        expect(p.dtype, key).toBe(twin.dtype);
        expect(Array.from((await p.data()) as Uint8Array), key).toEqual(Array.from((await twin.data()) as Uint8Array));
        kinds.add(p.dtype);
        if (p.rank === 1) expect(p.dtype, key).toBe("float32");
      }
      expect(kinds.has(type)).toBe(true);
      // the output head: Q8_0 for both types here (64-wide rows are not whole Q6_K super-blocks)
      expect(loaded.head.weight.dtype).toBe("q8_0");
      const run = (m: Model): Tensor => noGrad(() => m.forward(f.reference.input_ids!, batchOptions(f)));
      const logits = run(loaded);
      const kernelError = maxAbsDiff(logits, run(widened));
      const error = maxAbsDiff(logits, f.reference.logits!);
      const { ids, logits: steps } = greedy(loaded, f, true);
      // the decoding path (one row per step: the GEMV kernels) against float32 on the same values
      const wideSteps = greedy(widened, f, true).logits;
      const stepError = Math.max(...steps.map((l, i) => maxAbsDiff(l, wideSteps[i]!)));
      const same = ids.filter((id, i) => id === f.reference.gen_ids!.dataSync()[i]).length;
      console.log(
        `${name} ${type}: vs float32 of the dequantized weights ${kernelError.toExponential(2)}, vs reference ${error.toExponential(2)}, greedy ${same}/${ids.length} equal, decoding steps ${stepError.toExponential(2)}`,
      );
      expect(kernelError).toBeLessThanOrEqual(1e-4);
      expect(stepError).toBeLessThanOrEqual(1e-4);
      // what quantizing these unstructured N(0, 0.15) weights costs (|logits| up to ~6; measured at most
      // 0.23 for Q8_0 and 3.1 for Q4_0, qwen2 and mistral; gemma2's embedding scale and sandwich norms
      // double it); the held-out perplexity benchmark measures a trained model
      expect(error).toBeLessThanOrEqual((type === "q8_0" ? 0.3 : 3.5) * (name === "gemma2" ? 2 : 1));
      // the greedy path through the KV cache (single-row kernels) matches the full forward
      const full = greedy(loaded, f, false).ids;
      expect(ids).toEqual(full);
    });
  }
});
