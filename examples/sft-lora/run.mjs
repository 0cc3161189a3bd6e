// LoRA supervised fine-tuning, then a DPO step, on the small GPT that `pnpm demo` trains. The task:
// "what part of speech is this word in this sentence?", with answers read from the Brown corpus's own
// tags (pos_task.mjs), formatted as User/Assistant turns; the loss is on the assistant's answer only
// and short examples are packed into full rows. Held-out questions come from documents the base model
// never trained on; before and after it prints exact-match accuracy of greedy answers, multiple-choice
// accuracy over the seven classes (log-likelihood, as lm-evaluation-harness scores it) and the task loss.
//
//   node examples/sft-lora/run.mjs [--base DIR] [--minutes M] [--dpo-steps N] [--out DIR] [--seed S]
//
// --base defaults to out/demo/checkpoint (what `pnpm demo` writes); without one, the demo is run first
// with a 1.5 minute budget to make it.
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { LoraAdapters } from "@llm/layers";
import { loadModel, saveLoraAdapter } from "@llm/models/node";
import { collect, generateText } from "@llm/sampling";
import { noGrad, Rng, tensor } from "@llm/tensor";
import { writeSafetensorsFile } from "@llm/tensor/node";
import { fromTokenizerJson } from "@llm/tokenizer";
import {
  AdamW,
  DpoBatches,
  dpoObjective,
  evaluateDpo,
  evaluateLoss,
  collateDpo,
  packExamples,
  plainFormatter,
  precomputeReferenceLogProbs,
  SftBatches,
  collateSft,
  scoreMultipleChoice,
  sftLoss,
  tokenizePair,
  tokenizeSft,
  Trainer,
} from "@llm/train";
import { measureStep, plannedSteps, timeBudgetSchedule } from "../demo/budget.mjs";
import { LABELS, posQuestions, questionMessages, readTaggedBrown } from "./pos_task.mjs";

const { values: args } = parseArgs({
  options: {
    base: { type: "string", default: "out/demo/checkpoint" },
    minutes: { type: "string", default: "1.5" },
    "dpo-steps": { type: "string", default: "40" },
    rank: { type: "string", default: "16" },
    alpha: { type: "string", default: "32" },
    lr: { type: "string", default: "1e-2" },
    eval: { type: "string", default: "200" },
    out: { type: "string", default: "out/sft-lora" },
    seed: { type: "string", default: "0" },
  },
});
const seed = Number(args.seed);
const out = resolve(args.out);
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
const log = (line = "") => console.log(line);

// 1. The base model: the demo's checkpoint, or a fresh demo run.
let base = resolve(args.base);
if (!existsSync(join(base, "config.json"))) {
  const demoOut = join(out, "demo");
  log(`no checkpoint at ${base}: running the demo (1.5 min budget) to make one in ${demoOut}`);
  const demo = fileURLToPath(new URL("../demo/run.mjs", import.meta.url));
  const r = spawnSync(process.execPath, [demo, "--minutes", "1.5", "--out", demoOut], { stdio: "inherit" });
  if (r.status !== 0) throw new Error(`the demo run failed (exit ${r.status})`);
  base = join(demoOut, "checkpoint");
}
const tokenizer = fromTokenizerJson(readFileSync(join(base, "tokenizer.json")), join(base, "tokenizer.json"));
const model = await loadModel(base);
const baseParameters = model.parameters().reduce((n, p) => n + p.size, 0);
const context = model.config.maxPositions;
log(`[${seconds()}s] base: ${base} (${baseParameters.toLocaleString("en-US")} parameters, context ${context})`);

// 2. The task: questions from training documents, held-out ones from the documents the demo held out.
const docs = readTaggedBrown();
const trainQuestions = posQuestions(
  docs.filter((_, i) => i % 20 !== 10),
  new Rng(seed),
);
const formatter = plainFormatter();
const conversation = (q) => [...questionMessages(q), { role: "assistant", content: q.label }];
const fits = (q) => tokenizeSft({ kind: "chat", messages: conversation(q) }, { tokenizer, formatter }).ids.length <= context;
const heldQuestions = posQuestions(
  docs.filter((_, i) => i % 20 === 10),
  new Rng(seed + 1),
)
  .filter(fits)
  .slice(0, Number(args.eval));
const training = trainQuestions.filter(fits).map((q) => tokenizeSft({ kind: "chat", messages: conversation(q) }, { tokenizer, formatter }));
const packed = packExamples(training, { seqLen: context, padId: 0 });
const heldRows = packExamples(
  heldQuestions.map((q) => tokenizeSft({ kind: "chat", messages: conversation(q) }, { tokenizer, formatter })),
  { seqLen: context, padId: 0 },
).rows;
const counts = Object.fromEntries(LABELS.map((l) => [l, heldQuestions.filter((q) => q.label === l).length]));
// Held-out rows are scored 32 at a time: one batch of all of them held [rows, 64, vocab] logits
// and their log-softmax at once (the DPO pairs' twice that), which took this run's peak RSS to 1.6 GB.
const EVAL_ROWS = 32;
const inChunks = (items) =>
  Array.from({ length: Math.ceil(items.length / EVAL_ROWS) }, (_, i) => items.slice(i * EVAL_ROWS, (i + 1) * EVAL_ROWS));
const heldSftBatches = inChunks(heldRows).map((rows) => collateSft(rows));
const majority = LABELS.reduce((a, b) => (counts[a] >= counts[b] ? a : b));
log(
  `[${seconds()}s] task: ${training.length} training questions packed into ${packed.rows.length} rows of ${context} tokens (${(100 * packed.fill).toFixed(0)}% full, ${packed.targets} answer tokens); ${heldQuestions.length} held-out questions`,
);
log(`  e.g. ${JSON.stringify(formatter.render(conversation(heldQuestions[0]), { addGenerationPrompt: false }))}`);

/** The model's answer: greedy, up to the end of the line (or the context). */
async function greedyAnswer(prompt) {
  const maxNewTokens = Math.min(6, context - tokenizer.encode(prompt).length);
  return (await collect(generateText(model, tokenizer, prompt, { maxNewTokens, stopStrings: ["\n"] }))).join("").trim();
}

/** Exact match of greedy answers, multiple-choice accuracy over the seven classes, loss on answer tokens. */
async function evaluate(label) {
  model.eval();
  let exact = 0;
  const answers = [];
  for (const q of heldQuestions) {
    const prompt = formatter.render(questionMessages(q), { addGenerationPrompt: true });
    const answer = await greedyAnswer(prompt);
    answers.push(answer);
    if (answer === q.label) exact++;
  }
  const docsMc = heldQuestions.map((q) => ({
    context: formatter.render(questionMessages(q), { addGenerationPrompt: true }),
    choices: LABELS,
    gold: LABELS.indexOf(q.label),
  }));
  const mc = await scoreMultipleChoice(model, tokenizer, docsMc, { maxLength: context });
  const loss = await evaluateLoss(model, heldSftBatches, sftLoss);
  model.train();
  return { label, exact: exact / heldQuestions.length, acc: mc.acc, accNorm: mc.accNorm, accStderr: mc.accStderr, loss, answers };
}

const pct = (x) => `${(100 * x).toFixed(1)}%`;
const row = (r) =>
  `  ${r.label.padEnd(22)} ${pct(r.exact).padStart(8)} ${pct(r.acc).padStart(8)} ${pct(r.accNorm).padStart(9)} ${r.loss.toFixed(3).padStart(10)}`;
const header = `  ${"".padEnd(22)} ${"exact".padStart(8)} ${"MC acc".padStart(8)} ${"acc_norm".padStart(9)} ${"task loss".padStart(10)}`;

const before = await evaluate("base model");
log(`[${seconds()}s] held-out, before tuning (always "${majority}" would score ${pct(counts[majority] / heldQuestions.length)}):`);
log(header);
log(row(before));

// 3. LoRA on every Linear and on the output head (lm_head); the base is frozen. The head matters for
// a model this small: with it frozen, even tuning every Linear fully left the answer tokens' loss at
// ~1.4 nats in 240 steps (the head of a 64-wide model barely reaches rare tokens such as " N"),
// where with it the answers' spelling is learned in the first 100 steps.
const targets = ["c_attn", "c_proj", "c_fc", "lm_head"];
const lora = LoraAdapters.of(model).add(
  "pos",
  { r: Number(args.rank), alpha: Number(args.alpha), dropout: 0.05, targetModules: targets },
  { seed },
);
const trainable = lora.parameterCount("pos");
log(
  `\n[${seconds()}s] LoRA r ${args.rank}, alpha ${args.alpha} on ${lora.layersOf("pos").length} layers (${targets.join(", ")}): ${trainable.toLocaleString("en-US")} trainable parameters (${pct(trainable / baseParameters)} of the base's ${baseParameters.toLocaleString("en-US")}, which stay frozen)`,
);
const batchSize = 16;
const data = new SftBatches(packed.rows, { batchSize, seed });
const budget = Number(args.minutes) * 60;
const secondsPerStep = await measureStep(model, new SftBatches(packed.rows, { batchSize, seed: seed + 9 }).next(), sftLoss);
for (const p of lora.parameters()) p.zeroGrad();
const totalSteps = plannedSteps(secondsPerStep, budget, 2000);
const optimizer = new AdamW(lora.namedParameters("pos"), { lr: Number(args.lr), betas: [0.9, 0.95], weightDecay: 0 });
let trainedTokens = 0;
const trainStarted = performance.now();
const trainer = new Trainer({
  model,
  optimizer,
  data,
  loss: sftLoss,
  totalSteps,
  schedule: timeBudgetSchedule(totalSteps, budget),
  clipNorm: 1,
  maxSeconds: budget,
  onStep: (r) => {
    trainedTokens += r.tokens;
  },
});
log(
  `[${seconds()}s] SFT: ${totalSteps} steps of ${batchSize} rows or ${args.minutes} min, whichever ends first (AdamW lr ${args.lr}, loss on answers only)`,
);
const state = await trainer.run();
if (process.stderr.isTTY) process.stderr.write("\n");
const trainSeconds = (performance.now() - trainStarted) / 1000;
log(
  `[${seconds()}s] trained ${state.step} steps, ${trainedTokens.toLocaleString("en-US")} tokens in ${trainSeconds.toFixed(0)} s: ${(trainedTokens / trainSeconds).toFixed(0)} tokens/s`,
);

const after = await evaluate("after LoRA SFT");
log(`\nheld-out, ${heldQuestions.length} questions from unseen documents:`);
log(header);
log(row(before));
log(row(after));

// 4. The adapter in peft's layout (peft's PeftModel.from_pretrained loads it onto the base: see peft_check.py).
mkdirSync(out, { recursive: true });
const adapterDir = join(out, "adapter");
await saveLoraAdapter(model, adapterDir, { adapter: "pos", baseModelNameOrPath: base });
const checkIds = tokenizer.encode(formatter.render(questionMessages(heldQuestions[0]), { addGenerationPrompt: true }));
const checkLogits = noGrad(() => {
  model.eval();
  return model.forward(tensor([checkIds], { dtype: "int32" }));
});
await writeSafetensorsFile(join(out, "check.safetensors"), { input_ids: tensor([checkIds], { dtype: "int32" }), logits: checkLogits });
log(`[${seconds()}s] saved the adapter (adapter_config.json + adapter_model.safetensors) to ${adapterDir}`);

// 5. Adapters switched at generation time: the same prompts with none and with the tuned one.
log("\nthe same held-out prompts, base model vs adapter (greedy):");
for (const q of heldQuestions.slice(0, 4)) {
  const prompt = formatter.render(questionMessages(q), { addGenerationPrompt: true });
  const answer = () => greedyAnswer(prompt);
  lora.use(null);
  const plain = await answer();
  lora.use("pos");
  const tuned = await answer();
  log(`  ${JSON.stringify(q.sentence)}, "${q.word}": base ${JSON.stringify(plain)}, adapter ${JSON.stringify(tuned)} (Brown: ${q.label})`);
}

// 6. DPO on preference pairs built the same way: the right class preferred to a wrong one, on top of
// the SFT adapter (frozen, and the reference: its log-probabilities computed once), with a second adapter.
const pairRng = new Rng(seed + 5);
const pairOf = (q) => {
  const wrong = LABELS.filter((l) => l !== q.label);
  return tokenizePair(
    {
      prompt: questionMessages(q),
      chosen: [{ role: "assistant", content: q.label }],
      rejected: [{ role: "assistant", content: wrong[pairRng.int(wrong.length)] }],
    },
    { tokenizer, formatter, maxLength: context },
  );
};
const trainPairs = trainQuestions.filter(fits).slice(0, 2000).map(pairOf);
const heldPairs = heldQuestions.map(pairOf);
model.eval(); // the reference is scored without dropout
await precomputeReferenceLogProbs(model, trainPairs, { padId: 0, batchSize: 32 });
await precomputeReferenceLogProbs(model, heldPairs, { padId: 0, batchSize: 32 });
lora.setTrainable("pos", false);
lora.add("dpo", { r: 4, alpha: 8, targetModules: targets }, { seed: seed + 1 });
lora.use(["pos", "dpo"]);
const heldDpoBatches = inChunks(heldPairs).map((pairs) => collateDpo(pairs, { padId: 0 }));
const dpo = { beta: 0.1 };
const dpoOptimizer = new AdamW(lora.namedParameters("dpo"), { lr: 5e-3, betas: [0.9, 0.95], weightDecay: 0 });
const dpoData = new DpoBatches(trainPairs, { batchSize: 16, padId: 0, seed });
const dpoSteps = Number(args["dpo-steps"]);
const dpoTrainer = new Trainer({
  model,
  optimizer: dpoOptimizer,
  data: dpoData,
  loss: dpoObjective(dpo),
  totalSteps: dpoSteps,
  clipNorm: 1,
  progress: false,
});
log(
  `\n[${seconds()}s] DPO (beta ${dpo.beta}, sigmoid loss): ${dpoSteps} steps of 16 pairs; held-out chosen/rejected margin (beta x log-ratio, nats):`,
);
const show = async (step) => {
  model.eval();
  const m = await evaluateDpo(model, heldDpoBatches, dpo);
  model.train();
  log(`  step ${String(step).padStart(3)}: margin ${m.margin.toFixed(4)}, preferred ${pct(m.accuracy)}, loss ${m.loss.toFixed(4)}`);
  return m;
};
const dpoBefore = await show(0);
const every = Math.max(1, Math.round(dpoSteps / 4));
while (dpoTrainer.step < dpoSteps) {
  await dpoTrainer.run(Math.min(dpoSteps, dpoTrainer.step + every));
  await show(dpoTrainer.step);
}
const dpoAfter = await evaluateDpo(model, heldDpoBatches, dpo);
const final = await evaluate("after SFT + DPO");
log(`\nheld-out, all three:`);
log(header);
log(row(before));
log(row(after));
log(row(final));
log(`\ndone in ${seconds()}s; peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`);
if (!(after.loss < before.loss && dpoAfter.margin > dpoBefore.margin)) process.exitCode = 1;
