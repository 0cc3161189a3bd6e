// pnpm bench:7b — a LLaMA-2-7B-shaped model (random weights: 32 layers, 4096 wide, 11008 MLP, 32000
// vocabulary, 6.74B parameters) in Q4_0 loads and decodes on a laptop-sized machine. The GGUF file
// is made once (out/bench/gguf/llama2-7b-q4_0.gguf, 3.8 GB: delete it after) one weight at a time,
// never holding the model in float32; then fresh processes load it and prefill a short prompt and
// decode, one thread each: ours with float32 activations (the default), ours rounding activations as
// llama.cpp does ("ggml": int8 dot products over Q4_0), and native llama.cpp (node-llama-cpp 3.21.1)
// on the same file. Peak RSS of each. Writes out/bench/llama7b.json.
//
//   node benchmarks/llama7b.mjs [--steps N] [--prompt N] [--engines ours,ggml,llama.cpp]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";

const { values: args } = parseArgs({
  options: {
    child: { type: "string" },
    file: { type: "string" },
    steps: { type: "string", default: "4" },
    prompt: { type: "string", default: "8" },
    engines: { type: "string", default: "ours,ggml,llama.cpp" },
  },
});
const config = {
  model_type: "llama",
  architectures: ["LlamaForCausalLM"],
  vocab_size: 32000,
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  num_key_value_heads: 32,
  max_position_embeddings: 4096,
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: false,
};

const promptIds = () => Array.from({ length: Number(args.prompt) }, (_, i) => (i * 7919 + 13) % config.vocab_size);

if (args.child === "ours" || args.child === "ggml") {
  const { loadGGUF } = await import("../packages/models/dist/node.js");
  const { CpuBackend, noGrad, setBackend, tensor } = await import("../packages/tensor/dist/index.js");
  const backend = new CpuBackend({ threads: 1, activationRounding: args.child === "ggml" ? "ggml" : "none" });
  setBackend(backend);
  let t = performance.now();
  const { model } = await loadGGUF(args.file, { backend });
  const loadMs = performance.now() - t;
  const rssAfterLoad = process.memoryUsage().rss;
  const out = noGrad(() => {
    const cache = model.createCache();
    t = performance.now();
    let logits = model.forward(tensor([promptIds()], { dtype: "int32" }), { cache, logitsToKeep: 1 });
    logits.dataSync();
    const prefillMs = performance.now() - t;
    const tokens = [];
    t = performance.now();
    for (let s = 0; s < Number(args.steps); s++) {
      const next = logits.argmax(-1); // [1, 1, vocab] -> [1, 1], no views of the logits left to the GC
      tokens.push(next.dataSync()[0]);
      logits.dispose();
      logits = model.forward(next, { cache });
      next.dispose();
      logits.dataSync();
    }
    return { prefillMs, decodeMs: performance.now() - t, tokens };
  });
  const dtypes = {};
  for (const p of model.parameters()) dtypes[p.dtype] = (dtypes[p.dtype] ?? 0) + p.size;
  console.log(
    JSON.stringify({ ...out, loadMs, rssAfterLoadBytes: rssAfterLoad, maxRssBytes: peakRss(), dtypes, relaxedSimd: backend.relaxedSimd }),
  );
  process.exit(0);
}

if (args.child === "llama.cpp") {
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never", logLevel: "error" });
  let t = performance.now();
  const model = await llama.loadModel({ modelPath: args.file, gpuLayers: 0 });
  const loadMs = performance.now() - t;
  const rssAfterLoad = process.memoryUsage().rss;
  const context = await model.createContext({ contextSize: 64, threads: { ideal: 1, min: 1 }, batchSize: 64 });
  const sequence = context.getSequence();
  const ids = promptIds();
  const greedy = { generateNext: { token: true, options: { temperature: 0 } } };
  t = performance.now();
  const first = await sequence.controlledEvaluate(ids.map((id, i) => (i === ids.length - 1 ? [id, greedy] : id)));
  const prefillMs = performance.now() - t;
  let next = first[ids.length - 1].next.token;
  const tokens = [];
  t = performance.now();
  for (let s = 0; s < Number(args.steps); s++) {
    tokens.push(next);
    const out = await sequence.controlledEvaluate([[next, greedy]]);
    next = out[0].next.token;
  }
  const decodeMs = performance.now() - t;
  console.log(
    JSON.stringify({
      prefillMs,
      decodeMs,
      tokens,
      loadMs,
      rssAfterLoadBytes: rssAfterLoad,
      maxRssBytes: peakRss(),
      threads: context.currentThreads,
    }),
  );
  process.exit(0);
}

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

const root = resolve(import.meta.dirname, "..");
const dir = join(root, "out/bench/gguf");
mkdirSync(dir, { recursive: true });
const file = join(dir, "llama2-7b-q4_0.gguf");
if (!existsSync(file)) {
  const { architectureFor, holdingFor, weightRoles, weightDType } = await import("../packages/models/dist/index.js");
  const { saveGGUF } = await import("../packages/models/dist/node.js");
  const { quantizeTensor, tensor } = await import("../packages/tensor/dist/index.js");
  const t = performance.now();
  // parameters take no memory until filled, and each is quantized as it is filled: the budget
  // counts them as Q4_0 (3.8 GB), not float32 (27 GB)
  const model = architectureFor(config).create(config, { holding: holdingFor("q4_0") });
  const roles = weightRoles(model);
  let seed = 12345;
  // a fast uniform generator: the values only need to be weight-like (std ~0.02), not Gaussian
  const fill = (n, std) => {
    const out = new Float32Array(n);
    const a = std * Math.sqrt(3);
    for (let i = 0; i < n; i++) {
      seed = (Math.imul(seed, 1664525) + 1013904223) | 0;
      out[i] = ((seed >>> 8) / 16777216) * 2 * a - a;
    }
    return out;
  };
  for (const [name, p] of model.namedParameters()) {
    const role = roles.get(p);
    const values = role.kind === "other" ? new Float32Array(p.size).fill(1) : fill(p.size, 0.02);
    const wide = tensor(values, { shape: p.shape });
    const target = weightDType(role, "q4_0", "float32", role.axis < 0 ? 0 : p.shape[role.axis], "llama");
    if (target === "float32") p.adopt(wide);
    else {
      p.replaceWith(await quantizeTensor(wide, target, { axis: role.axis }));
      wide.dispose();
    }
    if (name.endsWith("31.mlp.down_proj.weight"))
      console.log(`  quantized through layer 31 in ${((performance.now() - t) / 1e3).toFixed(0)} s`);
  }
  const vocab = Array.from({ length: config.vocab_size }, (_, i) => `t${i}`);
  await saveGGUF(model, file, {
    tokenizer: new Map([
      ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
      ["tokenizer.ggml.pre", { type: "string", value: "gpt-2" }],
      ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: vocab }],
      ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: vocab.map(() => 1) }],
      ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: ["t 0"] }],
    ]),
  });
  console.log(`wrote ${file} (${(statSync(file).size / 1e9).toFixed(2)} GB) in ${((performance.now() - t) / 1e3).toFixed(0)} s`);
}
const gb = (b) => (b / 1e9).toFixed(2);
const results = {};
for (const engine of args.engines.split(",")) {
  // ours with relaxed SIMD where this Node takes the flag (Node 20: behind it), as bench:forward runs
  const flags = engine === "llama.cpp" ? [] : relaxedSimdFlags;
  const out = execFileSync(
    process.execPath,
    [...flags, import.meta.filename, "--child", engine, "--file", file, "--steps", args.steps, "--prompt", args.prompt],
    { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] },
  );
  const r = JSON.parse(out.trim().split("\n").pop());
  r.decodeTokensPerSecond = (Number(args.steps) / r.decodeMs) * 1e3;
  results[engine] = r;
  const what = r.dtypes
    ? ` (${Object.entries(r.dtypes)
        .map(([d, n]) => `${d} ${(n / 1e9).toFixed(2)}B`)
        .join(", ")})`
    : "";
  const simd = r.relaxedSimd === undefined ? "" : r.relaxedSimd ? " relaxed SIMD" : " plain SIMD";
  console.log(
    `${engine.padEnd(9)} LLaMA-2-7B shape, Q4_0${what}${simd}: load ${(r.loadMs / 1e3).toFixed(1)} s, RSS after load ${gb(r.rssAfterLoadBytes)} GB, ` +
      `peak RSS ${gb(r.maxRssBytes)} GB; prefill ${args.prompt} tokens ${(r.prefillMs / 1e3).toFixed(2)} s, ` +
      `decode ${r.decodeTokensPerSecond.toFixed(3)} tokens/s (1 thread), tokens ${r.tokens.join(" ")}`,
  );
}
const peer = results["llama.cpp"];
for (const engine of ["ours", "ggml"]) {
  const r = results[engine];
  if (!r || !peer) continue;
  r.vsLlamaCpp = {
    prefill: peer.prefillMs / r.prefillMs,
    decode: r.decodeTokensPerSecond / peer.decodeTokensPerSecond,
    peakRss: r.maxRssBytes / peer.maxRssBytes,
  };
  console.log(
    `${engine} / llama.cpp: prefill ${r.vsLlamaCpp.prefill.toFixed(2)}x, decode ${r.vsLlamaCpp.decode.toFixed(2)}x, peak RSS ${r.vsLlamaCpp.peakRss.toFixed(2)}x`,
  );
}
mkdirSync(join(root, "out/bench"), { recursive: true });
writeFileSync(
  join(root, "out/bench/llama7b.json"),
  JSON.stringify(
    {
      config,
      file,
      fileBytes: statSync(file).size,
      steps: Number(args.steps),
      prompt: Number(args.prompt),
      results,
      date: new Date().toISOString(),
    },
    null,
    2,
  ),
);
