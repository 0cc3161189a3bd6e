// GLM blank infilling, end to end: train a BPE tokenizer (with GLM's [MASK], [sop], [eop]) and a
// small GLM on Brown corpus sentences with the GLM objective (Poisson(3) spans over 15% of the
// tokens, shuffled into Part B, 2D positions, Part A / Part B attention), then fill masked spans
// in held-out sentences autoregressively and show them beside the original words.
//
//   node examples/glm-blank-infilling/run.mjs [--steps N] [--minutes M] [--out DIR]
import { mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createModel } from "@llm/models";
import { fillBlanksText } from "@llm/sampling";
import { Rng } from "@llm/tensor";
import { trainBPE } from "@llm/tokenizer";
import { AdamW, Trainer, collateGlm, decayGroups, evaluateLoss, glmBlankInfilling, glmLoss } from "@llm/train";
import { metricsFile, saveCheckpoint } from "@llm/train/node";
import { readBrown } from "../demo/brown.mjs";
import { measureStep, plannedSteps, timeBudgetSchedule } from "../demo/budget.mjs";
import { writeLossCurve } from "../demo/plot/loss_curve.mjs";

const { values: args } = parseArgs({
  options: {
    steps: { type: "string", default: "2000" },
    minutes: { type: "string", default: "6" },
    out: { type: "string", default: "out/glm" },
    seed: { type: "string", default: "0" },
  },
});
const seed = Number(args.seed);
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);

// Sentences of 8..40 tokens; every 20th document held out.
const docs = readBrown();
const sentencesOf = (ds) => ds.flatMap((d) => d.sentences.flatMap((p) => p.split(/(?<=[.!?]"?) (?=[A-Z"])/)));
const trainSentences = sentencesOf(docs.filter((_, i) => i % 20 !== 10));
const heldSentences = sentencesOf(docs.filter((_, i) => i % 20 === 10));

const SPECIAL = ["<|endoftext|>", "[MASK]", "[sop]", "[eop]", "[gMASK]"];
const tokenizer = trainBPE(trainSentences, { vocabSize: 512, specialTokens: SPECIAL });
const [pad, mask, sop, eop, gMask] = SPECIAL.map((t) => tokenizer.tokenToId(t));
const special = { mask, sop, eop, pad };
const encodeAll = (sentences) => sentences.map((s) => tokenizer.encode(s)).filter((ids) => ids.length >= 8 && ids.length <= 40);
const trainIds = encodeAll(trainSentences);
const heldIds = encodeAll(heldSentences);
console.log(
  `[${seconds()}s] tokenizer: ${tokenizer.vocabSize} tokens; ${trainIds.length} training sentences, ${heldIds.length} held out (8..40 tokens each)`,
);

const config = {
  model_type: "glm",
  architectures: ["GLMModel"],
  vocab_size: tokenizer.vocabSize,
  hidden_size: 96,
  num_layers: 2,
  num_attention_heads: 4,
  max_sequence_length: 64,
  block_position_encoding: true,
  layernorm_epsilon: 1e-5,
  initializer_range: 0.02,
  special_tokens: { pad, eos: pad, MASK: mask, sop, eop, gMASK: gMask },
};
const model = createModel(config, { seed });
console.log(
  `[${seconds()}s] GLM: ${config.num_layers} layers, width ${config.hidden_size}: ${model
    .parameters()
    .reduce((n, p) => n + p.size, 0)
    .toLocaleString("en-US")} parameters`,
);

/** Batches of GLM examples: sentences in a seeded order, spans drawn from the same seeded stream. */
class GlmBatches {
  constructor(sentences, batchSize, seed) {
    Object.assign(this, { sentences, batchSize, seed, drawn: 0 });
  }
  next() {
    const rng = new Rng(this.seed * 7919 + this.drawn++);
    const rows = Array.from({ length: this.batchSize }, () => this.sentences[rng.int(this.sentences.length)]);
    return collateGlm(
      rows.map((ids) => glmBlankInfilling(ids, rng, special)),
      special,
    );
  }
  state() {
    return { drawn: this.drawn };
  }
  restore(state) {
    this.drawn = state.drawn;
  }
}

const heldBatches = Array.from({ length: 4 }, (_, i) => new GlmBatches(heldIds, 32, 1000 + i).next());
const data = new GlmBatches(trainIds, 32, seed);
const budget = Number(args.minutes) * 60;
const totalSteps = plannedSteps(
  await measureStep(model, new GlmBatches(trainIds, 32, seed + 99).next(), glmLoss),
  budget,
  Number(args.steps),
);
const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr: 2e-2, betas: [0.9, 0.95] });
const trainer = new Trainer({
  model,
  optimizer,
  data,
  loss: glmLoss,
  totalSteps,
  schedule: timeBudgetSchedule(totalSteps, budget),
  clipNorm: 1,
  evaluate: () => evaluateLoss(model, heldBatches.slice(0, 2), glmLoss),
  evalEvery: Math.max(1, Math.round(totalSteps / 10)),
  maxSeconds: budget,
  metrics: metricsFile(join(resolve(args.out), "metrics.jsonl"), { append: false }),
});
console.log(
  `[${seconds()}s] training ${totalSteps} steps of 32 sentences or ${args.minutes} min, whichever ends first (loss on Part B only)`,
);
await trainer.run();
model.eval();
const heldLoss = await evaluateLoss(model, heldBatches, glmLoss);

// The unigram baseline: every Part B target (span tokens and [eop]) predicted by its frequency among
// the Part B targets of 4000 training examples (add-one smoothed), scored on the same held-out targets.
const counts = new Float64Array(tokenizer.vocabSize).fill(1);
const countRng = new Rng(seed + 2);
for (let i = 0; i < 4000; i++) {
  const ex = glmBlankInfilling(trainIds[countRng.int(trainIds.length)], countRng, special);
  ex.targets.forEach((t, k) => ex.lossMask[k] && (counts[t] += 1));
}
const total = counts.reduce((a, c) => a + c, 0);
let baseline = 0;
let n = 0;
for (const b of heldBatches) {
  const targets = b.targets.dataSync();
  const weights = b.lossMask.dataSync();
  targets.forEach((t, i) => {
    if (!weights[i]) return;
    baseline -= Math.log(counts[t] / total);
    n++;
  });
}
baseline /= n;
console.log(`\nheld-out Part B loss on ${n} targets (nats per token): unigram baseline ${baseline.toFixed(3)}, GLM ${heldLoss.toFixed(3)}`);

const out = resolve(args.out);
mkdirSync(out, { recursive: true });
await saveCheckpoint(join(out, "checkpoint"), { model, optimizer, trainer: trainer.state() });
await writeLossCurve(join(out, "loss.png"), join(out, "metrics.jsonl"), { title: "GLM blank infilling: Part B loss" });
console.log(`[${seconds()}s] saved ${join(out, "checkpoint")} and ${join(out, "loss.png")}\n`);

// Fill one span of 1..3 words in held-out sentences, greedily and by sampling (a span has at least one token).
const rng = new Rng(seed + 1);
const tokens = { masks: { "[MASK]": mask, "[gMASK]": gMask }, sop, eop };
for (const ids of heldIds
  .filter((s) => s.length <= 24)
  .slice(0, 40)
  .filter((_, i) => i % 5 === 0)) {
  const words = tokenizer.decode(ids).split(" ");
  const length = 1 + rng.int(Math.min(3, words.length - 3));
  const start = 1 + rng.int(Math.max(1, words.length - length - 1));
  // The blank takes the space before its words: byte-level BPE tokens carry their leading space.
  const masked = `${words.slice(0, start).join(" ")}[MASK] ${words.slice(start + length).join(" ")}`;
  const filled = await fillBlanksText(model, tokenizer, masked, { tokens, maxSpanTokens: 8, minSpanTokens: 1 });
  const sampled = await fillBlanksText(model, tokenizer, masked, {
    tokens,
    maxSpanTokens: 8,
    minSpanTokens: 1,
    temperature: 0.8,
    topK: 40,
    seed,
  });
  console.log(`  original: ${words.join(" ")}`);
  console.log(`  masked:   ${masked}`);
  console.log(
    `  greedy:   ${filled.text}   (span ${JSON.stringify(filled.spans[0])}, was ${JSON.stringify(` ${words.slice(start, start + length).join(" ")}`)})`,
  );
  console.log(`  sampled:  ${sampled.text}   (temperature 0.8, top-k 40)\n`);
}
console.log(`done in ${seconds()}s`);
