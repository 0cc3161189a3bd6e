import { readFileSync } from "node:fs";
import type { LanguageModel } from "@llm/layers";
import { tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import {
  encodePair,
  FewShotPrompter,
  loglikelihoods,
  multipleChoiceDoc,
  parseMultipleChoiceJsonl,
  scoreMultipleChoice,
  slidingWindowPerplexity,
} from "../src/index.js";
import { fixture } from "./fixtures.js";

describe("sliding-window perplexity, as Hugging Face's guide computes it", () => {
  // golden/perplexity_guide.py ran the guide's loop with transformers on these fixtures and ids.
  const golden = JSON.parse(readFileSync(new URL("./golden/perplexity_guide.json", import.meta.url), "utf8")) as {
    input_ids: number[];
    cases: { model: string; max_length: number; stride: number; perplexity: number; mean_nll: number }[];
  };
  for (const name of ["gpt2", "llama"]) {
    it(`${name}: every (max_length, stride) of the golden file within 1e-5 of its mean NLL`, async () => {
      const { model } = await fixture(name);
      model.eval();
      for (const c of golden.cases.filter((c) => c.model === name)) {
        const r = await slidingWindowPerplexity(model, golden.input_ids, { maxLength: c.max_length, stride: c.stride });
        expect(Math.abs(r.meanNll - c.mean_nll), `max_length ${c.max_length}, stride ${c.stride}`).toBeLessThan(1e-5);
        expect(r.perplexity / c.perplexity).toBeCloseTo(1, 4);
        // Overlapping windows score every token but the first; side by side ones cannot score their first tokens.
        expect(r.tokens).toBe(c.stride < c.max_length ? golden.input_ids.length - 1 : golden.input_ids.length - r.windows);
      }
    });
  }

  it("with stride 1 every token gets the whole window as context; exactPerplexity counts each token once", async () => {
    const { model } = await fixture("llama");
    model.eval();
    const ids = Array.from({ length: 20 }, (_, i) => (i * 37) % 512);
    const whole = await slidingWindowPerplexity(model, ids, { maxLength: 20, stride: 20 });
    expect(whole.windows).toBe(1);
    expect(whole.perplexity).toBeCloseTo(whole.exactPerplexity, 4); // one window: the two weightings agree
    const strided = await slidingWindowPerplexity(model, ids, { maxLength: 8, stride: 3 });
    expect(strided.windows).toBe(5);
    // Without maxLength, windows are the model's declared context (llama fixture: 64, so one window here).
    expect(model.config.maxPositions).toBe(64);
    expect(await slidingWindowPerplexity(model, ids)).toEqual(whole);
    await expect(slidingWindowPerplexity(model, ids, { maxLength: Number.POSITIVE_INFINITY })).rejects.toThrow(
      /maxLength must be an integer >= 2 \(give it when the model's maxPositions is unbounded\)/,
    );
    await expect(slidingWindowPerplexity(model, ids, { maxLength: 8, stride: 9 })).rejects.toThrow(
      /stride must be an integer in \[1, 8\], got 9/,
    );
  });
});

/**
 * A bigram "model" over six characters whose next-token probabilities are written out below, so
 * every log-likelihood can be worked by hand: logits are ln p, and log-softmax gives ln p back.
 */
const VOCAB = [" ", "a", "b", "c", "Q", "?"];
const chars = { encode: (s: string) => [...s].map((c) => VOCAB.indexOf(c)) };
const P: Record<string, number[]> = {
  //      " "     a      b      c      Q      ?
  "?": [1 / 2, 1 / 10, 1 / 10, 1 / 10, 1 / 10, 1 / 10],
  " ": [1 / 24, 1 / 2, 1 / 4, 1 / 8, 1 / 24, 1 / 24],
  a: [1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6],
  b: [0.02, 0.02, 0.9, 0.02, 0.02, 0.02],
  c: [1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6, 1 / 6],
  Q: [0.1, 0.1, 0.1, 0.1, 0.1, 0.5],
};
const bigram: LanguageModel = {
  config: { vocabSize: 6, maxPositions: 32 },
  createCache: () => ({ length: 0, dispose() {} }),
  forward(ids) {
    const [batch, seq] = ids.shape as [number, number];
    const values = ids.dataSync();
    const logits = new Float32Array(batch * seq * 6);
    values.forEach((id, i) => P[VOCAB[id]!]!.forEach((p, v) => (logits[i * 6 + v] = Math.log(p))));
    return tensor(logits, { shape: [batch, seq, 6] });
  },
};
const ln = Math.log;

describe("multiple-choice scoring by log-likelihood (lm-evaluation-harness's acc and acc_norm)", () => {
  it("log p(' ' + choice | context), worked by hand", async () => {
    const requests = ["a", "bb", "c"].map((c) => encodePair(chars, "Q?", ` ${c}`));
    const got = await loglikelihoods(bigram, requests);
    const expected = [
      ln(1 / 2) + ln(1 / 2), // ' ' after '?', 'a' after ' '
      ln(1 / 2) + ln(1 / 4) + ln(0.9), // ' ', 'b' after ' ', 'b' after 'b'
      ln(1 / 2) + ln(1 / 8),
    ];
    got.forEach((g, i) => expect(g.logLikelihood).toBeCloseTo(expected[i]!, 5));
    expect(got.map((g) => g.tokens)).toEqual([2, 3, 2]);
    expect(got.map((g) => g.isGreedy)).toEqual([true, false, false]); // 'b' after ' ' is not the likeliest
  });

  it("acc takes the largest log-likelihood, acc_norm the largest per character of the choice", async () => {
    // ll: a -1.386 (1 char), bb -2.185 (2 chars: -1.092 each), c -2.773; the answer is "bb".
    const docs = [multipleChoiceDoc({ query: "Q?", choices: ["a", "bb", "c"], gold: 1 })];
    const r = await scoreMultipleChoice(bigram, chars, docs);
    expect(r.scores[0]!.prediction).toBe(0);
    expect(r.scores[0]!.predictionNorm).toBe(1);
    expect([r.acc, r.accNorm, r.n]).toEqual([0, 1, 1]);
    const two = await scoreMultipleChoice(bigram, chars, [
      ...docs,
      multipleChoiceDoc({ question: "Q?", choices: ["c", "a"], answer: "a" }),
    ]);
    expect([two.acc, two.accNorm]).toEqual([0.5, 1]);
    expect(two.accStderr).toBeCloseTo(Math.sqrt(0.5 / 2), 10); // sample sd of [0, 1] / sqrt(2)
  });

  it("context encoding as lm-evaluation-harness: trailing spaces go to the continuation; an empty context starts from a prefix token", () => {
    expect(encodePair(chars, "Q? ", "a")).toEqual({ context: [4, 5], continuation: [0, 1] });
    expect(encodePair(chars, "", "ab", 5)).toEqual({ context: [5], continuation: [1, 2] });
    expect(() => encodePair(chars, "", "ab")).toThrow(/an empty context needs a prefixId/);
  });

  it("a long context loses tokens from the left, never the continuation", async () => {
    const long = encodePair(chars, `Q?${" a".repeat(20)}`, " b");
    const [cut] = await loglikelihoods(bigram, [long], { maxLength: 5 });
    expect(cut!.logLikelihood).toBeCloseTo(ln(1 / 6) + ln(1 / 4), 5); // ' ' after 'a', 'b' after ' '
  });

  it("JSONL tasks in the shapes people have; a bad answer is named", () => {
    const docs = parseMultipleChoiceJsonl(
      [
        { context: "x", choices: ["p", "q"], gold: 1 },
        { ctx: "x", endings: ["p", "q"], label: "1" }, // HellaSwag
        { question: "x", choices: { text: ["p", "q"], label: ["A", "B"] }, answerKey: "B" }, // ARC
        { question: "x", choices: ["p", "q"], answer: "q" },
        { question: "x", options: ["p", "q"], answer: "B" },
      ]
        .map((d) => JSON.stringify(d))
        .join("\n"),
    );
    expect(docs.every((d) => d.gold === 1 && d.choices.join() === "p,q" && d.context === "x")).toBe(true);
    expect(() => parseMultipleChoiceJsonl('{"query": "x", "choices": ["p", "q"], "gold": 2}', "t.jsonl")).toThrow(
      /t.jsonl:1: the answer 2 \(under gold\) names none of the 2 choices/,
    );
  });

  it("few-shot prompts: k solved examples drawn with a seed, never the question itself", () => {
    const pool = ["one", "two", "three", "four", "five"].map((w, i) => ({ context: `Q${i}:`, choices: [w, "no"], gold: 0 }));
    const doc = pool[2]!;
    const a = new FewShotPrompter({ k: 2, pool, seed: 7 }).context(doc);
    const b = new FewShotPrompter({ k: 2, pool, seed: 7 }).context(doc);
    expect(a).toBe(b);
    expect(a).toMatch(/^Q\d: \w+\n\nQ\d: \w+\n\nQ2:$/);
    expect(a.indexOf("Q2:")).toBe(a.length - 3);
    const seeds = new Set(Array.from({ length: 12 }, (_, s) => new FewShotPrompter({ k: 2, pool, seed: s }).context(doc)));
    expect(seeds.size).toBeGreaterThan(3);
    expect(new FewShotPrompter({ k: 0, pool }).context(doc)).toBe("Q2:");
    expect(() => new FewShotPrompter({ k: 5, pool }).context(doc)).toThrow(/5 examples asked for, the pool has 4 other questions/);
  });
});
