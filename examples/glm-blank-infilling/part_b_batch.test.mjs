// Left-padded batches with Part B-only logits give GLM's loss and gradients exactly as collateGlm's do.
import { createModel } from "@llm/models";
import { Rng, tidy } from "@llm/tensor";
import { collateGlm, glmBlankInfilling, glmLoss } from "@llm/train";
import { expect, it } from "vitest";
import { collatePartB, partBLoss } from "./part_b_batch.mjs";

const special = { pad: 0, mask: 1, sop: 2, eop: 3 };
const config = {
  model_type: "glm",
  vocab_size: 40,
  hidden_size: 16,
  num_layers: 2,
  num_attention_heads: 2,
  max_sequence_length: 32,
  block_position_encoding: true,
};

it("gives collateGlm's loss and gradients over rows of different lengths", async () => {
  const rng = new Rng(7);
  // Sentences of 6..20 tokens (ids 4..39), so Part A and Part B lengths differ from row to row.
  const sentences = [6, 20, 11, 15].map((n) => Array.from({ length: n }, () => 4 + rng.int(36)));
  const examples = sentences.map((ids) => glmBlankInfilling(ids, rng, special));
  expect(new Set(examples.map((e) => e.sep)).size).toBeGreaterThan(1);
  const model = createModel(config, { seed: 3 });
  const run = async (loss, batch) => {
    for (const p of model.parameters()) p.zeroGrad();
    const value = tidy(() => {
      const { sum } = loss(model, batch);
      sum.backward();
      return sum;
    });
    const grads = await Promise.all(model.parameters().map((p) => p.grad.data()));
    return { sum: await value.item(), grads, count: batch.count };
  };
  const plain = await run(glmLoss, collateGlm(examples, special));
  const aligned = collatePartB(examples, special);
  expect(aligned.keep).toBe(Math.max(...examples.map((e) => e.inputIds.length - e.sep)));
  const partB = await run(partBLoss, aligned);
  expect(partB.count).toBe(plain.count);
  expect(partB.sum).toBeCloseTo(plain.sum, 3);
  plain.grads.forEach((g, i) => {
    const max = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    g.forEach((x, j) => expect(Math.abs(partB.grads[i][j] - x)).toBeLessThan(1e-4 * Math.max(1, max)));
  });
});
