// pnpm bench:forward (second part) — decoding and prefill with weights kept as float16, Q8_0 and Q4_0,
// beside native llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU build) on the same GGUF file with
// the same thread count (1, or --threads 1,2). Ours runs twice: as it computes by default (float32
// activations) and as llama.cpp computes (CpuBackend({ activationRounding: "ggml" }): each
// activation row rounded to the weight's vec_dot_type, for Q8_0 / Q4_0 int8 dot products on Q8_0
// activations), with relaxed SIMD where this Node takes the flag (see relaxed_simd.mjs). Decoding
// is timed after warm-up steps on every engine (V8 tiers wasm up to TurboFan after a while). Two shapes with random weights: GPT-2 small (124M) and TinyLlama
// (1.1B: 22 layers, 2048 wide, grouped-query attention, 32000 vocabulary). Each (shape, dtype,
// engine) runs in a fresh process that loads the GGUF file, so its peak RSS is that of loading and
// running that model. GGUF files go to out/bench/gguf (several GB; delete them after).
// Writes out/bench/forward_dtypes.json.
//
//   node benchmarks/forward_dtypes.mjs [--quick] [--shapes gpt2,tinyllama] [--dtypes float16,q8_0,q4_0] [--threads 1,2]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";

const { values: args } = parseArgs({
  options: {
    child: { type: "string" },
    file: { type: "string" },
    prompt: { type: "string" },
    steps: { type: "string" },
    warmup: { type: "string" },
    rounding: { type: "string", default: "none" },
    vocab: { type: "string" },
    threads: { type: "string", default: "1" },
    quick: { type: "boolean", default: false },
    shapes: { type: "string", default: "gpt2,tinyllama" },
    dtypes: { type: "string", default: "float16,q8_0,q4_0" },
  },
});

const SHAPES = {
  gpt2: {
    config: {
      model_type: "gpt2",
      vocab_size: 50257,
      n_positions: 1024,
      n_embd: 768,
      n_layer: 12,
      n_head: 12,
      activation_function: "gelu_new",
    },
    prompt: 128,
    steps: 32,
    warmup: 16,
  },
  tinyllama: {
    config: {
      model_type: "llama",
      vocab_size: 32000,
      hidden_size: 2048,
      intermediate_size: 5632,
      num_hidden_layers: 22,
      num_attention_heads: 32,
      num_key_value_heads: 4,
      max_position_embeddings: 2048,
      rms_norm_eps: 1e-5,
      rope_theta: 10000,
      tie_word_embeddings: false,
    },
    prompt: 64,
    steps: 4,
    warmup: 2,
  },
};

/**
 * This process's peak RSS (VmHWM). Not process.resourceUsage().maxRSS: Linux carries that over
 * from the parent through fork and exec, so a child would report at least its parent's peak.
 */
function peakRss() {
  const line = readFileSync("/proc/self/status", "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmHWM:"));
  return Number(line.split(/\s+/)[1]) * 1024;
}

/**
 * CPU milliseconds this process (all its threads: llama.cpp computes on native ones) spent since
 * `since`: on one thread, tokens per CPU-second are what a quiet machine gives, less disturbed by
 * other load than wall time.
 */
function cpuMs(since) {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
}

const promptIds = (n, vocab) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);

if (args.child === "ours") {
  const { loadGGUF } = await import("../packages/models/dist/node.js");
  const { CpuBackend, noGrad, setBackend, tensor } = await import("../packages/tensor/dist/index.js");
  // threads from LLM_TENSOR_THREADS (set by the parent)
  if (args.rounding === "ggml") setBackend(new CpuBackend({ activationRounding: "ggml" }));
  let t = performance.now();
  const { model } = await loadGGUF(args.file);
  const loadMs = performance.now() - t;
  const ids = promptIds(Number(args.prompt), model.config.vocabSize);
  const result = noGrad(() => {
    const cache = model.createCache();
    t = performance.now();
    let logits = model.forward(tensor([ids], { dtype: "int32" }), { cache, logitsToKeep: 1 });
    logits.dataSync();
    const prefillMs = performance.now() - t;
    let decodeStart = 0;
    let decodeCpu = process.cpuUsage();
    for (let s = 0; s < Number(args.warmup) + Number(args.steps); s++) {
      if (s === Number(args.warmup)) [decodeStart, decodeCpu] = [performance.now(), process.cpuUsage()];
      const next = logits.reshape(-1).argmax(0).reshape(1, 1);
      logits.dispose();
      logits = model.forward(next, { cache });
      logits.dataSync();
    }
    return { prefillMs, decodeMs: performance.now() - decodeStart, decodeCpuMs: cpuMs(decodeCpu) };
  });
  console.log(JSON.stringify({ ...result, loadMs, maxRssBytes: peakRss() }));
  process.exit(0);
}

if (args.child === "llama.cpp") {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  let t = performance.now();
  const model = await llama.loadModel({ modelPath: args.file, gpuLayers: 0 });
  const loadMs = performance.now() - t;
  const context = await model.createContext({ contextSize: 512, threads: Number(process.env.LLM_TENSOR_THREADS), batchSize: 512 });
  const sequence = context.getSequence();
  const ids = promptIds(Number(args.prompt), Number(args.vocab));
  t = performance.now();
  const first = await sequence.controlledEvaluate(
    ids.map((id, i) => (i === ids.length - 1 ? [id, { generateNext: { token: true, options: { temperature: 0 } } }] : id)),
  );
  const prefillMs = performance.now() - t;
  let next = first[ids.length - 1].next.token;
  let decodeStart = 0;
  let decodeCpu = process.cpuUsage();
  for (let s = 0; s < Number(args.warmup) + Number(args.steps); s++) {
    if (s === Number(args.warmup)) [decodeStart, decodeCpu] = [performance.now(), process.cpuUsage()];
    const out = await sequence.controlledEvaluate([[next, { generateNext: { token: true, options: { temperature: 0 } } }]]);
    next = out[0].next.token;
  }
  const decodeMs = performance.now() - decodeStart;
  console.log(JSON.stringify({ prefillMs, decodeMs, decodeCpuMs: cpuMs(decodeCpu), loadMs, maxRssBytes: peakRss() }));
  process.exit(0);
}

// ---- parent: write the GGUF files, then run each engine on each in its own process ----
const root = resolve(import.meta.dirname, "..");
const { createModel, quantize } = await import("../packages/models/dist/index.js");
const { saveGGUF } = await import("../packages/models/dist/node.js");
const { BYTE_TO_CHAR } = await import("../packages/tokenizer/dist/index.js");
// (out/bench/gguf may be a link to another checkout's: the files take a while to write)
const dir = join(root, "out/bench/gguf");
mkdirSync(dir, { recursive: true });

/** A byte-level vocabulary of `n` tokens for llama.cpp to load (the benchmark feeds ids directly). */
function syntheticTokenizer(n) {
  const bytes = [...BYTE_TO_CHAR];
  const tokens = [...bytes, ...Array.from({ length: n - bytes.length }, (_, i) => `${bytes[97 + (i % 26)]}${i}`)];
  return new Map([
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: tokens.map(() => 1) }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: [`${bytes[116]} ${bytes[104]}`] }],
  ]);
}

const rows = [];
for (const shapeName of args.shapes.split(",")) {
  const shape = SHAPES[shapeName];
  const prompt = args.quick ? 16 : shape.prompt;
  const steps = args.quick ? 2 : shape.steps;
  const warmup = args.quick ? 2 : shape.warmup;
  for (const [dtype, threads] of args.dtypes.split(",").flatMap((d) => args.threads.split(",").map((n) => [d, Number(n)]))) {
    const file = join(dir, `${shapeName}-${dtype}.gguf`);
    if (!existsSync(file)) {
      const t = performance.now();
      const model = await quantize(createModel(shape.config, { seed: 0 }), dtype);
      await saveGGUF(model, file, { tokenizer: syntheticTokenizer(shape.config.vocab_size) });
      model.dispose();
      console.log(`wrote ${file} in ${((performance.now() - t) / 1e3).toFixed(0)} s`);
    }
    const row = { shape: shapeName, dtype, prompt, warmup, steps, threads, loadAverage: loadavg()[0] };
    for (const engine of ["ours", "ours ggml", "llama.cpp"]) {
      const out = execFileSync(
        process.execPath,
        [
          ...(engine === "llama.cpp" ? [] : relaxedSimdFlags),
          import.meta.filename,
          "--child",
          engine === "llama.cpp" ? engine : "ours",
          "--rounding",
          engine === "ours ggml" ? "ggml" : "none",
          "--warmup",
          String(warmup),
          "--file",
          file,
          "--prompt",
          String(prompt),
          "--steps",
          String(steps),
          "--vocab",
          String(shape.config.vocab_size),
        ],
        {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
          maxBuffer: 1 << 24,
          env: { ...process.env, LLM_TENSOR_THREADS: String(threads) },
        },
      );
      const r = JSON.parse(out.trim().split("\n").pop());
      row[engine] = {
        decodeTokensPerSecond: (steps / r.decodeMs) * 1e3,
        decodeTokensPerCpuSecond: (steps / r.decodeCpuMs) * 1e3,
        prefillTokensPerSecond: (prompt / r.prefillMs) * 1e3,
        loadMs: r.loadMs,
        peakRssMB: r.maxRssBytes / 2 ** 20,
      };
    }
    row.decodeRatio = row.ours.decodeTokensPerSecond / row["llama.cpp"].decodeTokensPerSecond;
    row.prefillRatio = row.ours.prefillTokensPerSecond / row["llama.cpp"].prefillTokensPerSecond;
    row.decodeRatioGgml = row["ours ggml"].decodeTokensPerSecond / row["llama.cpp"].decodeTokensPerSecond;
    row.decodeCpuRatio = row.ours.decodeTokensPerCpuSecond / row["llama.cpp"].decodeTokensPerCpuSecond;
    row.decodeCpuRatioGgml = row["ours ggml"].decodeTokensPerCpuSecond / row["llama.cpp"].decodeTokensPerCpuSecond;
    row.prefillRatioGgml = row["ours ggml"].prefillTokensPerSecond / row["llama.cpp"].prefillTokensPerSecond;
    rows.push(row);
    const f = (x) => x.toFixed(x < 10 ? 2 : 1);
    console.log(
      `${shapeName.padEnd(9)} ${dtype.padEnd(7)} ${threads} thread${threads > 1 ? "s" : " "} decode ours ${f(row.ours.decodeTokensPerSecond)} tok/s (${row.decodeRatio.toFixed(2)}x), ` +
        `ggml-rounded ${f(row["ours ggml"].decodeTokensPerSecond)} (${row.decodeRatioGgml.toFixed(2)}x), llama.cpp ${f(row["llama.cpp"].decodeTokensPerSecond)}; ` +
        `per CPU-second ${f(row.ours.decodeTokensPerCpuSecond)} (${row.decodeCpuRatio.toFixed(2)}x) / ${f(row["ours ggml"].decodeTokensPerCpuSecond)} (${row.decodeCpuRatioGgml.toFixed(2)}x) vs ${f(row["llama.cpp"].decodeTokensPerCpuSecond)}; ` +
        `prefill ${f(row.ours.prefillTokensPerSecond)} / ${f(row["ours ggml"].prefillTokensPerSecond)} vs ${f(row["llama.cpp"].prefillTokensPerSecond)} (${row.prefillRatio.toFixed(2)}x); ` +
        `peak RSS ${row.ours.peakRssMB.toFixed(0)} MB vs ${row["llama.cpp"].peakRssMB.toFixed(0)} MB`,
    );
  }
}
mkdirSync(join(root, "out/bench"), { recursive: true });
writeFileSync(
  join(root, "out/bench/forward_dtypes.json.tmp"),
  JSON.stringify({ node: process.version, oursNodeFlags: relaxedSimdFlags, date: new Date().toISOString(), rows }, null, 2),
);
renameSync(join(root, "out/bench/forward_dtypes.json.tmp"), join(root, "out/bench/forward_dtypes.json"));
console.log("wrote out/bench/forward_dtypes.json (a shared machine makes figures noisy: see loadAverage)");
