// Evaluates a model folder (config.json + model.safetensors + tokenizer.json, e.g. what `pnpm demo`
// writes), optionally with a LoRA adapter in peft's layout:
//  - perplexity of a text with a sliding window (Hugging Face's guide): --text FILE, or the Brown
//    corpus's held-out documents (the demo's split) when no --text is given;
//  - multiple-choice accuracy (acc and acc_norm with standard errors, lm-evaluation-harness's way)
//    on a JSONL task: --task FILE.jsonl, or --task brown-cloze (built from the corpus, see brown_cloze.mjs);
//    --shots K puts K solved examples (seeded: --seed) before each question.
// `llm eval SOURCE --text FILE --task FILE.jsonl` does the same from the command line; --write-task
// FILE writes the Brown cloze questions as JSONL for it (and --write-pool FILE their few-shot pool).
//
//   node examples/eval/eval.mjs --model out/demo/checkpoint [--adapter DIR] [--text FILE] [--task brown-cloze|FILE]
//        [--shots K] [--pool FILE] [--limit N] [--max-length N] [--stride N] [--json FILE] [--write-task FILE] [--write-pool FILE]
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadLoraAdapter, loadModel } from "@llm/models/node";
import { fromTokenizerJson } from "@llm/tokenizer";
import { parseMultipleChoiceJsonl, scoreMultipleChoice, slidingWindowPerplexity } from "@llm/train";
import { readBrown } from "../demo/brown.mjs";
import { brownCloze } from "./brown_cloze.mjs";

const { values: args } = parseArgs({
  options: {
    model: { type: "string", default: "out/demo/checkpoint" },
    adapter: { type: "string" },
    text: { type: "string" },
    task: { type: "string", default: "brown-cloze" },
    pool: { type: "string" },
    shots: { type: "string", default: "0" },
    seed: { type: "string", default: "1234" },
    limit: { type: "string", default: "200" },
    "max-length": { type: "string" },
    stride: { type: "string" },
    json: { type: "string" },
    "write-task": { type: "string" },
    "write-pool": { type: "string" },
  },
});
const started = Date.now();
const seconds = () => ((Date.now() - started) / 1000).toFixed(1);
const tokenizerPath = join(args.model, "tokenizer.json");
const tokenizer = fromTokenizerJson(readFileSync(tokenizerPath), tokenizerPath);
const model = await loadModel(args.model);
if (args.adapter) await loadLoraAdapter(model, args.adapter);
model.eval();
const maxLength = Number(args["max-length"] ?? (Number.isFinite(model.config.maxPositions) ? model.config.maxPositions : 2048));
console.log(`${args.model}${args.adapter ? ` + adapter ${args.adapter}` : ""}: context ${maxLength} tokens`);

// Perplexity.
const text = args.text
  ? readFileSync(args.text, "utf8")
  : readBrown()
      .filter((_, i) => i % 20 === 10)
      .flatMap((d) => d.sentences)
      .join("\n");
const ids = tokenizer.encode(text);
const stride = Number(args.stride ?? Math.floor(maxLength / 2));
const ppl = await slidingWindowPerplexity(model, ids, { maxLength, stride });
console.log(
  `[${seconds()}s] perplexity of ${args.text ?? "the Brown corpus's held-out documents"} (${ids.length.toLocaleString("en-US")} tokens, windows of ${maxLength}, stride ${stride}): ` +
    `${ppl.perplexity.toFixed(2)} (guide's weighting; every token once: ${ppl.exactPerplexity.toFixed(2)}) over ${ppl.windows} windows`,
);

// Multiple choice.
let docs;
let pool;
if (args.task === "brown-cloze") ({ docs, pool } = brownCloze({ n: Number(args.limit) }));
else docs = parseMultipleChoiceJsonl(readFileSync(args.task, "utf8"), args.task).slice(0, Number(args.limit));
const jsonl = (docs) => `${docs.map((d) => JSON.stringify(d)).join("\n")}\n`;
if (args["write-task"]) writeFileSync(args["write-task"], jsonl(docs));
if (args["write-pool"] && pool) writeFileSync(args["write-pool"], jsonl(pool));
if (args.pool) pool = parseMultipleChoiceJsonl(readFileSync(args.pool, "utf8"), args.pool);
const shots = Number(args.shots);
const mc = await scoreMultipleChoice(model, tokenizer, docs, {
  maxLength,
  prefixId: 0,
  ...(shots > 0 ? { fewShot: { k: shots, pool: pool ?? docs, seed: Number(args.seed) } } : {}),
});
const chance = docs.reduce((a, d) => a + 1 / d.choices.length, 0) / docs.length;
console.log(
  `[${seconds()}s] ${args.task}, ${mc.n} questions, ${shots}-shot: acc ${(100 * mc.acc).toFixed(1)}% +- ${(100 * mc.accStderr).toFixed(1)}, ` +
    `acc_norm ${(100 * mc.accNorm).toFixed(1)}% +- ${(100 * mc.accNormStderr).toFixed(1)} (chance ${(100 * chance).toFixed(1)}%)`,
);
if (args.json) {
  const { scores, ...summary } = mc;
  writeFileSync(
    args.json,
    `${JSON.stringify({ model: args.model, adapter: args.adapter ?? null, perplexity: ppl, multipleChoice: { task: args.task, shots, ...summary } }, null, 2)}\n`,
  );
}
