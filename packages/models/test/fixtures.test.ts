import { describe, expect, it, beforeAll } from "vitest";
import { concat, noGrad, tensor, type Tensor } from "@llm/tensor";
import { crossEntropy, type ForwardOptions } from "@llm/layers";
import { glmBlockMask, type Model } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { fixtureNames, gradientViolations, maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

/**
 * transformers 5 calls GPT-NeoX's head lm_head in memory (so in grads.safetensors) but still
 * saves it as embed_out, the name our state dict keeps.
 */
function checkpointName(fixture: string, gradKey: string): string {
  return fixture === "gpt_neox" && gradKey === "lm_head.weight" ? "embed_out.weight" : gradKey;
}

/** Forward options of the fixture's scored batch: GLM's come from its reference file. */
function batchOptions(f: Fixture): ForwardOptions {
  if (f.name !== "glm") return {};
  const ids = f.reference.input_ids!;
  const sep = f.reference.sep!.dataSync()[0]!;
  return { positionIds: f.reference.position_ids!, attentionMask: glmBlockMask(ids.shape[0]!, ids.shape[1]!, sep) };
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

/** Greedy continuation steps: ids and last-position logits, with a full forward each step or the cache. */
function greedy(model: Model, f: Fixture, useCache: boolean): { ids: number[]; logits: Tensor[] } {
  const steps = f.reference.gen_ids!.shape[1]!;
  const ids: number[] = [];
  const logits: Tensor[] = [];
  noGrad(() => {
    const glm = f.name === "glm";
    const prompt = glm ? concat([f.reference.gen_partA!, tensor([[sopId(f)]], { dtype: "int32" })], 1) : f.reference.gen_prompt!;
    const sep = f.reference.gen_partA?.shape[1] ?? 0;
    const cache = useCache ? model.createCache() : undefined;
    let sequence = prompt;
    let next: Tensor = prompt;
    for (let step = 0; step < steps; step++) {
      const input = useCache ? next : sequence;
      const options: ForwardOptions = { cache };
      const total = sequence.shape[1]!;
      if (glm) {
        const start = total - input.shape[1]!;
        options.positionIds = glmPositions(sep, total).slice(2, start);
        if (!useCache || step === 0) options.attentionMask = glmBlockMask(1, total, sep);
      }
      const out = model.forward(input, options);
      const last = out.slice(1, out.shape[1]! - 1).reshape(-1);
      logits.push(last);
      const id = last.argmax(0).dataSync()[0]!;
      ids.push(id);
      next = tensor([[id]], { dtype: "int32" });
      sequence = concat([sequence, next], 1);
    }
    cache?.dispose();
  });
  return { ids, logits };
}

function sopId(f: Fixture): number {
  return (f.config.special_tokens as Record<string, number>).sop!;
}

/** GLM generation positions: Part A 0..sep-1; [sop] and every new token at the [MASK] (2), block 1, 2, ... */
function glmPositions(sep: number, total: number): Tensor {
  const mask = 2;
  const position = Array.from({ length: total }, (_, i) => (i < sep ? i : mask));
  const block = Array.from({ length: total }, (_, i) => (i < sep ? 0 : i - sep + 1));
  return tensor([[position, block]], { dtype: "int32" });
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
});
