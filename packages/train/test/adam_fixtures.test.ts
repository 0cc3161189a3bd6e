import { readFileSync } from "node:fs";
import type { LanguageModel } from "@llm/layers";
import { tidy, type Tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { AdamW, collateGlm, glmLoss, maskedCrossEntropy, type GlmExample } from "../src/index.js";
import { ARCHITECTURES, FIXTURES, fixture, ids } from "./fixtures.js";

/** The fixture's loss: mean cross-entropy of logits[:, :-1] against input_ids[:, 1:]. */
function nextTokenLoss(model: LanguageModel, input: Tensor): Tensor {
  const seq = input.shape[1]!;
  const logits = model.forward(input);
  return maskedCrossEntropy(logits.slice(1, 0, seq - 1), input.slice(1, 1, seq).contiguous());
}

async function glmFixtureBatch(reference: Record<string, Tensor>) {
  const config = JSON.parse(readFileSync(`${FIXTURES}glm/config.json`, "utf8")) as { special_tokens: Record<string, number> };
  const s = config.special_tokens;
  const pos = await ids(reference.position_ids!);
  const n = pos.length / 2;
  const example: GlmExample = {
    inputIds: await ids(reference.input_ids!),
    positions: pos.slice(0, n),
    blockPositions: pos.slice(n),
    targets: await ids(reference.targets!),
    lossMask: await ids(reference.loss_mask!),
    sep: (await ids(reference.sep!))[0]!,
  };
  return collateGlm([example], { mask: s.MASK!, sop: s.sop!, eop: s.eop!, pad: s.pad! });
}

describe("three AdamW steps reproduce adam_losses (lr 1e-2, betas 0.9/0.95, eps 1e-8, wd 0.1 on every parameter)", () => {
  for (const name of ARCHITECTURES) {
    it(name, async () => {
      const { model, reference } = await fixture(name);
      model.train();
      const opt = new AdamW(model.namedParameters(), { lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
      const glmBatch = name === "glm" ? await glmFixtureBatch(reference) : null;
      const lossOf = () =>
        glmBatch
          ? tidy(() => {
              const r = glmLoss(model, glmBatch);
              return r.sum.div(r.count);
            })
          : tidy(() => nextTokenLoss(model, reference.input_ids!));
      const losses: number[] = [];
      for (let step = 0; step < 3; step++) {
        opt.zeroGrad();
        const loss = lossOf();
        loss.backward();
        losses.push(await loss.item());
        opt.step();
      }
      losses.push(await lossOf().item());
      const expected = await ids(reference.adam_losses!);
      losses.forEach((l, i) => expect(Math.abs(l - expected[i]!)).toBeLessThan(1e-4));
    });
  }

  it("glm: the loss on the Part A / Part B example matches `loss`", async () => {
    const { model, reference } = await fixture("glm");
    const batch = await glmFixtureBatch(reference);
    const r = glmLoss(model, batch);
    expect(r.count).toBe(5);
    expect(Math.abs((await r.sum.item()) / r.count - (await ids(reference.loss!))[0]!)).toBeLessThan(1e-5);
  });
});
