import { LoraAdapters, type LanguageModel } from "@llm/layers";
import { tensor, tidy, type Tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import {
  AdamW,
  collateDpo,
  DpoBatches,
  dpoLoss,
  dpoObjective,
  evaluateDpo,
  precomputeReferenceLogProbs,
  preferencePair,
  tokenizePair,
  type TokenizedPair,
} from "../src/index.js";
import { fixture } from "./fixtures.js";

/** A "model" whose logits are one given tensor whatever the ids: the log-probabilities are then known by hand. */
function fixedLogits(logits: Tensor): LanguageModel {
  return {
    config: { vocabSize: logits.shape[2]!, maxPositions: 64 },
    createCache: () => ({ length: 0, dispose() {} }),
    forward: () => logits,
  };
}

const ln = Math.log;

describe("DPO (sigmoid loss) against a case worked by hand", () => {
  // One pair: prompt [0], chosen [1, 2], rejected [2, 1]; rows are [chosen, rejected], 3 tokens each.
  const pair: TokenizedPair = {
    chosen: { ids: [0, 1, 2], train: [false, true, true] },
    rejected: { ids: [0, 2, 1], train: [false, true, true] },
    referenceChosen: -2,
    referenceRejected: -1.5,
  };
  // Chosen row: position 0 predicts 1 with p 2/4, position 1 predicts 2 with p 2/4 -> log pi(c) = ln(1/4).
  // Rejected row: position 0 predicts 2 with p 1/3, position 1 predicts 1 with p 3/5 -> log pi(r) = ln(1/5).
  const L = [
    [
      [0, ln(2), 0],
      [0, 0, ln(2)],
      [9, 9, 9],
    ],
    [
      [0, 0, 0],
      [0, ln(3), 0],
      [9, 9, 9],
    ],
  ];
  const beta = 0.5;
  const z = beta * (ln(1 / 4) - ln(1 / 5) - (-2 - -1.5)); // = 0.5 (ln 1.25 + 0.5) = 0.36157...
  const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

  it("loss = -log sigmoid(beta ((log pi(c) - log pi(r)) - (log ref(c) - log ref(r)))) = 0.52861", async () => {
    const batch = collateDpo([pair], { padId: 0 });
    expect(Array.from(batch.reference!)).toEqual([-2, -1.5]);
    const { sum, count } = dpoLoss(fixedLogits(tensor(L)), batch, { beta });
    expect(count).toBe(1);
    const loss = (await sum.item()) / count;
    expect(loss).toBeCloseTo(-ln(sigmoid(z)), 6);
    expect(loss).toBeCloseTo(0.528615, 5);
  });

  it("gradients: dL/dlogits = -sigmoid(-z) beta (+-1) (onehot(target) - softmax) at scored positions, 0 elsewhere", async () => {
    const logits = tensor(L).requireGrad();
    const { sum } = dpoLoss(fixedLogits(logits), collateDpo([pair], { padId: 0 }), { beta });
    sum.backward();
    const grad = Array.from(await logits.grad!.data());
    const softmax = (row: number[]) => {
      const e = row.map(Math.exp);
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((v) => v / s);
    };
    const targets = [
      [1, 2, -1],
      [2, 1, -1],
    ];
    const dz = -sigmoid(-z);
    const expected = L.flatMap((row, r) =>
      row.flatMap((logitsAt, t) => {
        const target = targets[r]![t]!;
        if (target < 0) return [0, 0, 0];
        const p = softmax(logitsAt);
        const sign = r === 0 ? 1 : -1; // dz/dlog pi(c) = beta, dz/dlog pi(r) = -beta
        return p.map((pv, v) => dz * beta * sign * ((v === target ? 1 : 0) - pv));
      }),
    );
    grad.forEach((g, i) => expect(g, `element ${i}`).toBeCloseTo(expected[i]!, 6));
  });

  it("a frozen reference model gives the same loss as its precomputed log-probabilities, and no gradient", async () => {
    // A reference whose rows score ln(e^-2)... built the same way: log ref(c) = -2, log ref(r) = -1.5.
    const refLogits = tensor([
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
      [
        [0, 0, 0],
        [0, 0, 0],
        [0, 0, 0],
      ],
    ]).requireGrad();
    const reference = fixedLogits(refLogits); // every token 1/3: log ref = 2 ln(1/3) for both
    const policy = fixedLogits(tensor(L).requireGrad());
    const noRef = { chosen: pair.chosen, rejected: pair.rejected };
    const byModel = dpoLoss(policy, collateDpo([noRef], { padId: 0 }), { beta, reference });
    const zRef = beta * (ln(1 / 4) - ln(1 / 5) - 0);
    expect(await byModel.sum.item()).toBeCloseTo(-ln(sigmoid(zRef)), 6);
    byModel.sum.backward();
    expect(refLogits.grad).toBeNull();
    const copy: TokenizedPair = { ...noRef };
    await precomputeReferenceLogProbs(reference, [copy], { padId: 0 });
    expect(copy.referenceChosen).toBeCloseTo(2 * ln(1 / 3), 6);
    expect(await dpoLoss(policy, collateDpo([copy], { padId: 0 }), { beta }).sum.item()).toBeCloseTo(-ln(sigmoid(zRef)), 6);
    expect(() => dpoLoss(policy, collateDpo([noRef], { padId: 0 }))).toThrow(
      /expected a reference model .* or pairs with precomputed reference log-probabilities/,
    );
  });
});

describe("DPO on a LoRA policy with the base as its reference", () => {
  const chars = { encode: (s: string) => [...s].map((c) => c.charCodeAt(0)) };

  it("starts at ln 2 with a nonzero gradient, and AdamW steps grow the chosen/rejected margin", async () => {
    const { model } = await fixture("llama");
    const lora = LoraAdapters.of(model).add("default", { r: 4, alpha: 8, targetModules: ["q_proj", "v_proj", "down_proj"] });
    const records = [
      { prompt: "Q: sky? A:", chosen: " blue", rejected: " green" },
      { prompt: "Q: grass? A:", chosen: " green", rejected: " blue" },
      { prompt: "Q: snow? A:", chosen: " white", rejected: " black" },
      { prompt: "Q: coal? A:", chosen: " black", rejected: " white" },
    ];
    const pairs = records.map((r, i) => tokenizePair(preferencePair(r, `pair ${i}`), { tokenizer: chars, eosId: 2 }));
    const batch = collateDpo(pairs, { padId: 0 });
    const options = { beta: 0.1, reference: lora.withoutAdapters() };
    const first = await evaluateDpo(model, [batch], options);
    // A fresh LoRA (B = 0) is the base: every reward is 0 and the loss is -log sigmoid(0) = ln 2.
    expect(first.loss).toBeCloseTo(Math.LN2, 6);
    expect(first.margin).toBe(0);
    const { sum } = tidy(() => dpoLoss(model, batch, options));
    sum.backward();
    expect(lora.parameters().some((p) => p.grad && Array.from(p.grad.dataSync()).some((g) => g !== 0))).toBe(true);
    for (const p of model.parameters()) expect(p.grad).toBeNull();
    for (const p of lora.parameters()) p.zeroGrad();
    const optimizer = new AdamW(lora.namedParameters(), { lr: 1e-2, weightDecay: 0 });
    const objective = dpoObjective(options);
    const data = new DpoBatches(pairs, { batchSize: 4, padId: 0, seed: 1 });
    for (let step = 0; step < 10; step++) {
      optimizer.zeroGrad();
      const { sum: s, count } = tidy(() => objective(model, data.next()));
      tidy(() => s.div(count).backward());
      optimizer.step();
    }
    const after = await evaluateDpo(model, [batch], options);
    expect(after.margin).toBeGreaterThan(0.1);
    expect(after.loss).toBeLessThan(first.loss);
    expect(after.accuracy).toBe(1);
  });

  it("preference records in TRL's shapes; mismatched ones are named", () => {
    expect(preferencePair({ prompt: "a", chosen: "b", rejected: "c" })).toEqual({ prompt: "a", chosen: "b", rejected: "c" });
    const chat = preferencePair({
      prompt: [{ role: "user", content: "hi" }],
      chosen: [{ role: "assistant", content: "hello" }],
      rejected: [{ role: "assistant", content: "go away" }],
    });
    const t = tokenizePair(chat, { tokenizer: chars });
    const decode = (e: { ids: readonly number[]; train: readonly boolean[] }) => String.fromCharCode(...e.ids.filter((_, i) => e.train[i]));
    expect([decode(t.chosen), decode(t.rejected)]).toEqual([" hello\n", " go away\n"]);
    expect(() => preferencePair({ prompt: "a", chosen: "b" }, "line 3")).toThrow(
      /line 3: expected "prompt", "chosen" and "rejected".*rejected: nothing/,
    );
  });
});
