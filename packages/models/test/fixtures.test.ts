import { describe, expect, it, beforeAll } from "vitest";
import type { Tensor } from "@llm/tensor";
import { crossEntropy } from "@llm/layers";
import type { Model } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { batchOptions, fixtureNames, gradientViolations, greedy, maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

/**
 * transformers 5 calls GPT-NeoX's head lm_head in memory (so in grads.safetensors) but still
 * saves it as embed_out, the name our state dict keeps.
 */
function checkpointName(fixture: string, gradKey: string): string {
  return fixture === "gpt_neox" && gradKey === "lm_head.weight" ? "embed_out.weight" : gradKey;
}

/** The fixture's loss: next-token cross-entropy, or GLM's over Part B targets. */
function fixtureLoss(f: Fixture, logits: Tensor): Tensor {
  const ids = f.reference.input_ids!;
  if (f.name === "glm") {
    const targets = f.reference.targets!.mul(f.reference.loss_mask!.int()).add(f.reference.loss_mask!.int().sub(1).mul(100));
    return crossEntropy(logits, targets, { ignoreIndex: -100 });
  }
  const seq = ids.shape[1]!;
  return crossEntropy(logits.slice(1, 0, seq - 1), ids.slice(1, 1).contiguous());
}

describe.each(fixtureNames())("%s fixture", (name) => {
  let f: Fixture;
  let model: Model;
  beforeAll(async () => {
    f = await readFixture(name);
    // The folder as downloaded, through the loader users call (each tensor read into its parameter).
    model = await loadModel(f.dir);
  });

  it("matches the reference logits, loss and every gradient", () => {
    const logits = model.forward(f.reference.input_ids!, batchOptions(f));
    const logitsError = maxAbsDiff(logits, f.reference.logits!);
    const loss = fixtureLoss(f, logits);
    const lossError = Math.abs(loss.dataSync()[0]! - f.reference.loss!.dataSync()[0]!);
    loss.backward();
    const params = model.stateDict();
    const grads = Object.fromEntries(Object.entries(f.grads).map(([key, g]) => [checkpointName(name, key), g]));
    expect(Object.keys(params).sort()).toEqual(Object.keys(grads).sort());
    const worstGrad = Object.entries(grads)
      .map(([key, g]) => [key, maxAbsDiff(params[key]!.grad!, g)] as const)
      .reduce((a, b) => (b[1] > a[1] ? b : a));
    console.log(
      `${name}: logits ${logitsError.toExponential(2)}, loss ${lossError.toExponential(2)}, worst grad ${worstGrad[0]} ${worstGrad[1].toExponential(2)}`,
    );
    expect(logitsError).toBeLessThanOrEqual(1e-4);
    expect(lossError).toBeLessThanOrEqual(1e-5);
    for (const [key, g] of Object.entries(grads)) {
      expect(gradientViolations(params[key]!.grad!, g), key).toBe(0);
    }
    for (const p of model.parameters()) p.zeroGrad();
  });

  it("generates the reference greedy tokens and logits, with and without the KV cache", () => {
    const expectedIds = Array.from(f.reference.gen_ids!.dataSync());
    for (const useCache of [false, true]) {
      const { ids, logits } = greedy(model, f, useCache);
      expect(ids, `cache ${useCache}`).toEqual(expectedIds);
      const worst = Math.max(...logits.map((l, i) => maxAbsDiff(l, f.reference.gen_logits!.slice(0, i, i + 1).reshape(-1))));
      console.log(`${name}: gen_logits ${worst.toExponential(2)} (cache ${useCache})`);
      expect(worst, `gen_logits, cache ${useCache}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it("with a float16 KV cache: the reference greedy tokens, and the float32 cache's logits over keys and values rounded to float16, bit for bit", () => {
    const { ids, logits } = greedy(model, f, true, { dtype: "float16" });
    expect(ids).toEqual(Array.from(f.reference.gen_ids!.dataSync()));
    const worst = Math.max(...logits.map((l, i) => maxAbsDiff(l, f.reference.gen_logits!.slice(0, i, i + 1).reshape(-1))));
    console.log(`${name}: gen_logits ${worst.toExponential(2)} (float16 cache)`);
    // rounding every key and value to float16 moves these logits 5e-4 to 3.3e-3 from the float32 reference
    expect(worst).toBeLessThanOrEqual(5e-3);
    // the same forward over a float32 cache whose every step is rounded to float16 and back: the
    // float16 cache's attention must be exactly the float32 attention over those values
    const rounded = greedy(model, f, true, { rounding: "float16" });
    for (const [i, l] of logits.entries()) expect(Array.from(l.dataSync()), `step ${i}`).toEqual(Array.from(rounded.logits[i]!.dataSync()));
  });

  it("with a bfloat16 KV cache: the float32 cache's logits over keys and values rounded to bfloat16, bit for bit", () => {
    const { logits } = greedy(model, f, true, { dtype: "bfloat16" });
    const worst = Math.max(...logits.map((l, i) => maxAbsDiff(l, f.reference.gen_logits!.slice(0, i, i + 1).reshape(-1))));
    // bfloat16 keeps 8 bits of mantissa to float16's 11: 5e-3 to 3.5e-2 from the reference here (shown, not bounded)
    console.log(`${name}: gen_logits ${worst.toExponential(2)} (bfloat16 cache)`);
    const rounded = greedy(model, f, true, { rounding: "bfloat16" });
    for (const [i, l] of logits.entries()) expect(Array.from(l.dataSync()), `step ${i}`).toEqual(Array.from(rounded.logits[i]!.dataSync()));
  });
});
