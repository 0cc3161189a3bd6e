// pnpm bench:forward (second part) — decoding and prefill with weights kept as float16, Q8_0 and Q4_0,
// beside native llama.cpp (node-llama-cpp 3.21.1, its prebuilt CPU build) on the same GGUF file with
// the same thread count. Two shapes with random weights: GPT-2 small (124M) and TinyLlama (1.1B: 22
// layers, 2048 wide, grouped-query attention, 32000 vocabulary). Ours runs in both activation modes:
// "default" (float32 activations) and "ggml" (CpuBackend({ activationRounding: "ggml" }): activations
// rounded as llama.cpp rounds them), both with a float32 KV cache, and "ggml-kv16": "ggml" with a
// float16 KV cache (createCache({ dtype: "float16" })), as llama.cpp keeps its own by default; with
// relaxed SIMD where this Node has it (see relaxed_simd.mjs).
// Each (shape, dtype, threads, engine, mode) runs in a fresh process that loads the GGUF file, so its
// peak RSS is that of loading and running that model. Prefill is timed after warm-up runs (V8 tiers
// WebAssembly up in the background), `--repeats` times on a fresh cache: best and median reported;
// decoding after untimed warm-up steps, in wall clock and per CPU-second, on every engine alike.
// GGUF files go to --gguf-dir (default out/bench/gguf; several GB for TinyLlama; delete them after).
// A dtype "llama-quantize:<type>" (iq3_s, iq3_m, q4_k_m, ...) is made by llama.cpp's own quantizer
// from the float32 file (packages/models/test/golden/llama_quantize/llama_quantize.c, needs gcc):
// for the types we read but do not write, such as IQ3_S.
// One-thread runs are pinned to one CPU with taskset, the same for every contender (--cpu).
// Writes out/bench/forward_dtypes.json.
//
//   node benchmarks/forward_dtypes.mjs [--quick] [--shapes gpt2,tinyllama] [--dtypes float16,q8_0,q4_0,llama-quantize:iq3_s]
//     [--threads 1,2] [--modes default,ggml,ggml-kv16] [--repeats 3] [--gguf-dir DIR] [--cpu N|auto|none]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";

const { values: args } = parseArgs({
  options: {
    child: { type: "string" },
    file: { type: "string" },
    prompt: { type: "string" },
    steps: { type: "string" },
    vocab: { type: "string" },
    quick: { type: "boolean", default: false },
    shapes: { type: "string", default: "gpt2,tinyllama" },
    dtypes: { type: "string", default: "float16,q8_0,q4_0" },
    threads: { type: "string", default: "1" },
    modes: { type: "string", default: "default,ggml,ggml-kv16" },
    mode: { type: "string", default: "default" },
    repeats: { type: "string", default: "3" },
    warmup: { type: "string", default: "0" },
    "gguf-dir": { type: "string" },
    cpu: { type: "string", default: "auto" },
  },
});

/**
 * One-thread runs (every contender, and the peak measurement) are pinned to one CPU with taskset,
 * the same CPU for all: on this VM the two vCPUs ran both engines' int8 prefill 20-45% apart, so an
 * unpinned pair could compare one engine on the fast vCPU with the other on the slow one. --cpu N
 * picks it (default: the first this process may use), --cpu none turns pinning off.
 */
const pinnedCpu = (() => {
  if (args.child !== undefined || args.cpu === "none") return null;
  try {
    execFileSync("taskset", ["-V"], { stdio: "ignore" });
  } catch {
    console.log("taskset not found: one-thread runs are not pinned to a CPU");
    return null;
  }
  if (args.cpu !== "auto") return args.cpu;
  const allowed = /Cpus_allowed_list:\s*(\d+)/.exec(readFileSync("/proc/self/status", "utf8"));
  return allowed === null ? null : allowed[1];
})();

/** node with argv, pinned to pinnedCpu where `threads` is one. */
function nodeCommand(argv, threads) {
  return threads === 1 && pinnedCpu !== null ? ["taskset", ["-c", pinnedCpu, process.execPath, ...argv]] : [process.execPath, argv];
}

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
    // 64 untimed steps, then 128 timed (positions 192-320): over 16 and 32 V8 was still compiling
    // the kernels' optimized tier in the background (1.4 CPU-seconds a second) and runs a minute
    // apart differed by up to 25%
    steps: 128,
    warmup: 64,
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
    // 16 untimed steps, then 16 timed: after 2 untimed V8 was still running the decoding kernels on
    // its baseline tier (Q4_0 "ggml" 9.0 tok/s where the same build ran 13.8-14.1 after 4)
    steps: 16,
    warmup: 16,
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

const promptIds = (n, vocab) => Array.from({ length: n }, (_, i) => (i * 7919 + 13) % vocab);

/**
 * Best and median of the runs' wall milliseconds, and the best of their CPU milliseconds (this
 * process's user + system time: on a machine shared with other jobs it moves less than wall time).
 */
function summary(ms, cpuMs) {
  const sorted = [...ms].sort((a, b) => a - b);
  return { bestMs: sorted[0], medianMs: sorted[Math.floor(sorted.length / 2)], runsMs: ms, bestCpuMs: Math.min(...cpuMs) };
}

/** CPU milliseconds of this process since `from` (a process.cpuUsage()). */
const cpuMsSince = (from) => {
  const d = process.cpuUsage(from);
  return (d.user + d.system) / 1e3;
};

if (args.child === "ours") {
  const { loadGGUF } = await import("../packages/models/dist/node.js");
  const { CpuBackend, noGrad, setBackend, tensor } = await import("../packages/tensor/dist/index.js");
  const activationRounding = args.mode.startsWith("ggml") ? "ggml" : "none";
  const cacheOptions = { dtype: args.mode === "ggml-kv16" ? "float16" : "float32" };
  const backend = new CpuBackend({ threads: Number(args.threads), activationRounding });
  setBackend(backend);
  const t = performance.now();
  const { model } = await loadGGUF(args.file);
  const loadMs = performance.now() - t;
  const ids = promptIds(Number(args.prompt), model.config.vocabSize);
  const prefill = () =>
    noGrad(() => {
      const cache = model.createCache(cacheOptions);
      const cpu = process.cpuUsage();
      const start = performance.now();
      const logits = model.forward(tensor([ids], { dtype: "int32" }), { cache, logitsToKeep: 1 });
      logits.dataSync();
      return { ms: performance.now() - start, cpuMs: cpuMsSince(cpu), cache, logits };
    });
  // warm-up: kernels compiled and tiered up, threads started
  for (let w = 0; w < 2; w++) {
    const r = prefill();
    r.logits.dispose();
    r.cache.dispose();
  }
  const runs = [];
  const cpuRuns = [];
  let last = null;
  for (let i = 0; i < Number(args.repeats); i++) {
    if (last) {
      last.logits.dispose();
      last.cache.dispose();
    }
    last = prefill();
    runs.push(last.ms);
    cpuRuns.push(last.cpuMs);
  }
  // decoding: --warmup untimed steps first (V8 tiers the per-token code up after a while), as llama.cpp's below;
  // each step ends with its greedy token read (llama.cpp's step returns the token, not the logits)
  const decode = noGrad(() => {
    let { logits } = last;
    let next = logits.argmax(-1); // [1, 1, vocab] -> [1, 1], no views of the logits left to the GC
    let start = performance.now();
    let cpu = process.cpuUsage();
    for (let s = 0; s < Number(args.warmup) + Number(args.steps); s++) {
      if (s === Number(args.warmup)) [start, cpu] = [performance.now(), process.cpuUsage()];
      logits.dispose();
      logits = model.forward(next, { cache: last.cache });
      next.dispose();
      next = logits.argmax(-1);
      next.dataSync();
    }
    next.dispose();
    return { decodeMs: performance.now() - start, decodeCpuMs: cpuMsSince(cpu) };
  });
  console.log(
    JSON.stringify({
      ...summary(runs, cpuRuns),
      ...decode,
      loadMs,
      maxRssBytes: peakRss(),
      threads: backend.threads,
      relaxedSimd: backend.relaxedSimd,
    }),
  );
  backend.close();
  process.exit(0);
}

if (args.child === "llama.cpp") {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  const t = performance.now();
  const model = await llama.loadModel({ modelPath: args.file, gpuLayers: 0 });
  const loadMs = performance.now() - t;
  const threads = Number(args.threads);
  const context = await model.createContext({ contextSize: 512, threads: { ideal: threads, min: threads }, batchSize: 512 });
  const sequence = context.getSequence();
  const ids = promptIds(Number(args.prompt), Number(args.vocab));
  const prefill = async () => {
    await sequence.clearHistory();
    const cpu = process.cpuUsage();
    const start = performance.now();
    const out = await sequence.controlledEvaluate(
      ids.map((id, i) => (i === ids.length - 1 ? [id, { generateNext: { token: true, options: { temperature: 0 } } }] : id)),
    );
    return { ms: performance.now() - start, cpuMs: cpuMsSince(cpu), next: out[ids.length - 1].next.token };
  };
  await prefill(); // warm-up, as ours
  const runs = [];
  const cpuRuns = [];
  let next;
  for (let i = 0; i < Number(args.repeats); i++) {
    const r = await prefill();
    runs.push(r.ms);
    cpuRuns.push(r.cpuMs);
    next = r.next;
  }
  let start = performance.now();
  let cpu = process.cpuUsage();
  for (let s = 0; s < Number(args.warmup) + Number(args.steps); s++) {
    if (s === Number(args.warmup)) [start, cpu] = [performance.now(), process.cpuUsage()];
    const out = await sequence.controlledEvaluate([[next, { generateNext: { token: true, options: { temperature: 0 } } }]]);
    next = out[0].next.token;
  }
  const decodeMs = performance.now() - start;
  const decodeCpuMs = cpuMsSince(cpu);
  console.log(
    JSON.stringify({ ...summary(runs, cpuRuns), decodeMs, decodeCpuMs, loadMs, maxRssBytes: peakRss(), threads: context.currentThreads }),
  );
  process.exit(0);
}

// ---- parent: write the GGUF files, then run each engine on each in its own process ----
const root = resolve(import.meta.dirname, "..");
const { createModel, quantize } = await import("../packages/models/dist/index.js");
const { saveGGUF } = await import("../packages/models/dist/node.js");
const { BYTE_TO_CHAR } = await import("../packages/tokenizer/dist/index.js");
const dir = resolve(args["gguf-dir"] ?? join(root, "out/bench/gguf"));
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

/** llama_ftype of the types "llama-quantize:<type>" names. */
const LLAMA_FTYPES = { q4_k_m: 15, q5_k_m: 17, q3_k_m: 12, q2_k: 10, iq4_xs: 30, iq4_nl: 25, iq3_s: 26, iq3_m: 27 };

/** `file` made by llama_model_quantize (node-llama-cpp 3.21.1's libllama) from `model` saved as float32. */
async function llamaQuantize(model, file, type, tokenizer) {
  const ftype = LLAMA_FTYPES[type];
  if (ftype === undefined) throw new Error(`forward_dtypes: llama-quantize:${type} is not one of ${Object.keys(LLAMA_FTYPES).join(", ")}`);
  const f32 = `${file}.f32.tmp`;
  await saveGGUF(model, f32, { tokenizer });
  const golden = join(root, "packages/models/test/golden/llama_quantize");
  const exe = join(dir, "llama_quantize");
  execFileSync("gcc", ["-O1", "-o", exe, join(golden, "llama_quantize.c"), "-ldl"], { stdio: "inherit" });
  const llamaCpp = realpathSync(join(root, "packages/models/node_modules/node-llama-cpp"));
  const bins = join(llamaCpp, "../@node-llama-cpp/linux-x64/bins/linux-x64");
  execFileSync(exe, [f32, `${file}.tmp`, String(ftype)], { stdio: "ignore", env: { ...process.env, LD_LIBRARY_PATH: bins } });
  renameSync(`${file}.tmp`, file);
  rmSync(f32);
}

const rows = [];
for (const shapeName of args.shapes.split(",")) {
  const shape = SHAPES[shapeName];
  const prompt = args.quick ? 16 : shape.prompt;
  const steps = args.quick ? 2 : shape.steps;
  const warmup = args.quick ? 2 : shape.warmup;
  for (const dtype of args.dtypes.split(",")) {
    const file = join(dir, `${shapeName}-${dtype.replace(":", "-")}.gguf`);
    if (!existsSync(file)) {
      const t = performance.now();
      const tokenizer = syntheticTokenizer(shape.config.vocab_size);
      const llamaType = dtype.startsWith("llama-quantize:") ? dtype.slice("llama-quantize:".length) : null;
      const model =
        llamaType === null ? await quantize(createModel(shape.config, { seed: 0 }), dtype) : createModel(shape.config, { seed: 0 });
      if (llamaType === null) await saveGGUF(model, file, { tokenizer });
      else await llamaQuantize(model, file, llamaType, tokenizer);
      model.dispose();
      console.log(`wrote ${file} in ${((performance.now() - t) / 1e3).toFixed(0)} s`);
    }
    for (const threads of args.threads.split(",").map(Number)) {
      const row = { shape: shapeName, dtype, prompt, steps, threads, ours: {} };
      const run = (engine, mode) => {
        const flags = engine === "ours" ? relaxedSimdFlags : [];
        const argv = [...flags, import.meta.filename, "--child", engine, "--mode", mode, "--file", file, "--prompt", String(prompt)];
        argv.push(
          "--steps",
          String(steps),
          "--vocab",
          String(shape.config.vocab_size),
          "--threads",
          String(threads),
          "--repeats",
          args.repeats,
          "--warmup",
          String(warmup),
        );
        const out = execFileSync(...nodeCommand(argv, threads), {
          encoding: "utf8",
          stdio: ["ignore", "pipe", "inherit"],
          maxBuffer: 1 << 24,
        });
        const r = JSON.parse(out.trim().split("\n").pop());
        return {
          prefillTokensPerSecond: (prompt / r.bestMs) * 1e3,
          prefillTokensPerSecondMedian: (prompt / r.medianMs) * 1e3,
          prefillRunsMs: r.runsMs,
          prefillTokensPerCpuSecond: (prompt / r.bestCpuMs) * 1e3,
          decodeTokensPerSecond: (steps / r.decodeMs) * 1e3,
          decodeTokensPerCpuSecond: (steps / r.decodeCpuMs) * 1e3,
          loadMs: r.loadMs,
          peakRssMB: r.maxRssBytes / 2 ** 20,
          threads: r.threads,
          ...(r.relaxedSimd === undefined ? {} : { relaxedSimd: r.relaxedSimd }),
        };
      };
      // llama.cpp between our two modes, so a change in the machine's load shows in the ratios
      const modes = args.modes.split(",");
      row.ours[modes[0]] = run("ours", modes[0]);
      row["llama.cpp"] = run("llama.cpp", "default");
      for (const mode of modes.slice(1)) row.ours[mode] = run("ours", mode);
      const peer = row["llama.cpp"];
      const f = (x) => x.toFixed(x < 10 ? 2 : 1);
      console.log(
        `${shapeName.padEnd(9)} ${dtype.padEnd(7)} ${threads} thread${threads > 1 ? "s" : " "}: llama.cpp prefill ${f(peer.prefillTokensPerSecond)} tok/s, decode ${f(peer.decodeTokensPerSecond)} (per CPU-second ${f(peer.decodeTokensPerCpuSecond)}), peak RSS ${peer.peakRssMB.toFixed(0)} MB`,
      );
      row.prefillRatio = {};
      row.prefillCpuRatio = {};
      row.decodeRatio = {};
      row.decodeCpuRatio = {};
      for (const mode of modes) {
        const ours = row.ours[mode];
        row.prefillRatio[mode] = ours.prefillTokensPerSecond / peer.prefillTokensPerSecond;
        row.prefillCpuRatio[mode] = ours.prefillTokensPerCpuSecond / peer.prefillTokensPerCpuSecond;
        row.decodeRatio[mode] = ours.decodeTokensPerSecond / peer.decodeTokensPerSecond;
        row.decodeCpuRatio[mode] = ours.decodeTokensPerCpuSecond / peer.decodeTokensPerCpuSecond;
        console.log(
          `${"".padEnd(27)}ours ${mode.padEnd(7)} prefill ${f(ours.prefillTokensPerSecond)} tok/s (${row.prefillRatio[mode].toFixed(2)}x; median ${f(ours.prefillTokensPerSecondMedian)}; ` +
            `per CPU-second ${f(ours.prefillTokensPerCpuSecond)} vs ${f(peer.prefillTokensPerCpuSecond)}: ${row.prefillCpuRatio[mode].toFixed(2)}x), ` +
            `decode ${f(ours.decodeTokensPerSecond)} (${row.decodeRatio[mode].toFixed(2)}x; per CPU-second ${f(ours.decodeTokensPerCpuSecond)} vs ${f(peer.decodeTokensPerCpuSecond)}: ${row.decodeCpuRatio[mode].toFixed(2)}x), peak RSS ${ours.peakRssMB.toFixed(0)} MB`,
        );
      }
      rows.push(row);
    }
  }
}

/** Multiply-adds a prompt token costs in the matmuls: each layer's projections, and the head once per prompt (logitsToKeep 1). */
function matmulMacsPerToken(config, prompt) {
  if (config.model_type === "gpt2") return config.n_layer * 12 * config.n_embd ** 2 + (config.vocab_size * config.n_embd) / prompt;
  const d = config.hidden_size;
  const kv = (d / config.num_attention_heads) * (config.num_key_value_heads ?? config.num_attention_heads);
  return config.num_hidden_layers * (2 * d * d + 2 * d * kv + 3 * d * config.intermediate_size) + (config.vocab_size * d) / prompt;
}

// The int8 ceiling: register-only integer dot products on this core (no block scales, no loads of
// real weights), run with the flags our runs had. No int8 prefill kernel on 128-bit SIMD can pass it.
const peakScript = `const m = await import(${JSON.stringify(pathToFileURL(join(root, "benchmarks/matmul/peak.mjs")).href)});
console.log(JSON.stringify({ dot16: m.int8Peak(false), dot8: m.int8Peak(true), fma: m.simdPeak(true), muladd: m.simdPeak(false) }));`;
const peaks = JSON.parse(
  execFileSync(...nodeCommand([...relaxedSimdFlags, "--input-type=module", "-e", peakScript], 1), { encoding: "utf8" })
    .trim()
    .split("\n")
    .pop(),
);
const int8Ceiling = {};
for (const shapeName of args.shapes.split(",")) {
  const macs = matmulMacsPerToken(SHAPES[shapeName].config, args.quick ? 16 : SHAPES[shapeName].prompt);
  // Q8_0's signed levels take the int16 dot product; Q4_0's levels (0-15) relaxed SIMD's int8 one
  const ceilings = { q8_0: (peaks.dot16 * 1e9) / macs, q4_0: (Math.max(peaks.dot16 ?? 0, peaks.dot8 ?? 0) * 1e9) / macs };
  int8Ceiling[shapeName] = { macsPerToken: macs, prefillTokensPerSecond: ceilings };
  const vs = rows
    .filter((r) => r.shape === shapeName && r.threads === 1 && (r.dtype === "q8_0" || r.dtype === "q4_0"))
    .map((r) => `${r.dtype} ${(ceilings[r.dtype] / r["llama.cpp"].prefillTokensPerSecond).toFixed(2)}x`);
  console.log(
    `${shapeName}: int8 dot products here peak at ${peaks.dot16.toFixed(1)} G multiply-adds/s (i32x4.dot_i16x8_s)` +
      (peaks.dot8 ? `, ${peaks.dot8.toFixed(1)} (relaxed SIMD's int8 dot, int16 sums)` : "") +
      `, float32 at ${((peaks.fma ?? peaks.muladd) / 2).toFixed(1)} G: a prompt token's ${(macs / 1e6).toFixed(0)}M multiply-adds cap any int8 prefill at ` +
      `${ceilings.q8_0.toFixed(0)} tok/s over Q8_0, ${ceilings.q4_0.toFixed(0)} over Q4_0 on one thread` +
      (vs.length ? ` (of llama.cpp's one-thread prefill: ${vs.join(", ")})` : ""),
  );
}

mkdirSync(join(root, "out/bench"), { recursive: true });
writeFileSync(
  join(root, "out/bench/forward_dtypes.json.tmp"),
  JSON.stringify(
    {
      node: process.version,
      relaxedSimdFlags,
      loadAverage: loadavg(),
      date: new Date().toISOString(),
      pinnedCpu,
      simdPeaks: peaks,
      int8Ceiling,
      rows,
    },
    null,
    2,
  ),
);
renameSync(join(root, "out/bench/forward_dtypes.json.tmp"), join(root, "out/bench/forward_dtypes.json"));
console.log(
  "wrote out/bench/forward_dtypes.json (prefill: best of --repeats after warm-up; the machine may be shared, so figures are noisy)",
);
