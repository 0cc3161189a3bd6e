// pnpm bench:quality — what quantizing costs a trained model: held-out perplexity of the demo's
// GPT-2-style model (trained here on the Brown corpus, or given with --model DIR) with its weights in
// float32, float16 and each of llama.cpp's block types and K-quant mixes (its blocks and per-weight
// rules; rows that are not whole 256-value super-blocks take llama-quantize's fallbacks), on the
// demo's own held-out documents (every 20th). Writes out/bench/quality.json.
//
//   node benchmarks/quality.mjs [--model DIR] [--minutes M]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { loadModel } from "../packages/models/dist/node.js";
import { BYTES_PER_ELEMENT } from "../packages/tensor/dist/index.js";
import { fromTokenizerJson } from "../packages/tokenizer/dist/index.js";
import { TokenDataLoader, evaluateLoss, languageModelLoss } from "../packages/train/dist/index.js";
import { readBrown } from "../examples/demo/brown.mjs";

const { values: args } = parseArgs({ options: { model: { type: "string" }, minutes: { type: "string", default: "3" } } });
const root = resolve(import.meta.dirname, "..");
let dir = args.model && resolve(args.model);
if (!dir) {
  const out = join(root, "out/bench/quality-demo");
  dir = join(out, "checkpoint");
  if (!existsSync(join(dir, "config.json"))) {
    console.log(`training the demo model for ${args.minutes} min into ${out} ...`);
    execFileSync(process.execPath, [join(root, "examples/demo/run.mjs"), "--minutes", args.minutes, "--out", out], { stdio: "inherit" });
  }
}
const tokenizer = fromTokenizerJson(readFileSync(join(dir, "tokenizer.json"), "utf8"));

// the demo's held-out split and windows: every 20th document, 8 batches of 32 x 64 spread over it
const docs = readBrown();
const heldText = docs
  .filter((_, i) => i % 20 === 10)
  .flatMap((d) => d.sentences)
  .join("\n");
const loader = new TokenDataLoader(tokenizer.encode(heldText), { batchSize: 32, seqLen: 64, seed: 0 });
const all = [...loader.sequential()].filter((b) => b.batchSize === 32);
const batches = Array.from({ length: Math.min(8, all.length) }, (_, i) => all[Math.floor((i * all.length) / Math.min(8, all.length))]);
const tokens = batches.reduce((n, b) => n + b.targets.length, 0);

const rows = [];
const DTYPES = [
  "float32",
  "float16",
  "q8_0",
  "q6_k",
  "q5_k_m",
  "q5_k",
  "q5_1",
  "q5_0",
  "q4_k_m",
  "q4_k",
  "q4_1",
  "q4_0",
  "iq4_nl",
  "q3_k_m",
];
for (const dtype of DTYPES) {
  const model = await loadModel(dir, { dtype });
  const bytes = model.parameters().reduce((n, p) => n + p.size * BYTES_PER_ELEMENT[p.dtype], 0);
  const loss = await evaluateLoss(model, batches, languageModelLoss);
  rows.push({ dtype, loss, perplexity: Math.exp(loss), weightBytes: Math.round(bytes) });
  model.dispose();
}
const base = rows[0].perplexity;
console.log(`\nheld-out perplexity of ${dir} on ${tokens.toLocaleString("en-US")} tokens of unseen Brown documents:`);
for (const r of rows) {
  console.log(
    `  ${r.dtype.padEnd(8)} loss ${r.loss.toFixed(4)}  perplexity ${r.perplexity.toFixed(3)}  (${r.perplexity >= base ? "+" : ""}${(((r.perplexity - base) / base) * 100).toFixed(2)}%)  weights ${(r.weightBytes / 1e6).toFixed(2)} MB`,
  );
}
mkdirSync(join(root, "out/bench"), { recursive: true });
writeFileSync(
  join(root, "out/bench/quality.json"),
  JSON.stringify({ model: dir, heldOutTokens: tokens, rows, date: new Date().toISOString() }, null, 2),
);
console.log("wrote out/bench/quality.json");
