// pnpm bench:sliding-window — greedy decoding far past a sliding window: a Mistral-shaped model
// (random weights: vocab 4096, width 256, 4 layers, 8 query / 2 kv heads, MLP 768, window 128)
// decodes 512 tokens after a 32-token prompt with the KV cache, on the CPU backend. The same
// weights run three ways in one process: @llm with the window (its cache keeps only the window),
// @llm without it (sliding_window null: the cache keeps everything), and transformers
// (MistralForCausalLM, eager attention, one thread, its DynamicCache with sliding layers) when the
// Python named by LLM_BENCH_PYTHON (default python3) imports transformers and torch. Prints the
// time per token over the first and the last 128 steps, the keys and values each cache holds at the
// end, and whether the greedy tokens agree; writes out/bench/sliding_window.json.
// Uses the built packages (the root script builds them first).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createModel } from "../packages/models/dist/index.js";
import { saveModel } from "../packages/models/dist/node.js";
import { noGrad, Rng, tensor, tidy } from "../packages/tensor/dist/index.js";

const quick = process.argv.includes("--quick");
const promptLength = 32;
const steps = quick ? 160 : 512;
const window = 128;
const span = 128; // steps averaged at the start and at the end
const OUT = fileURLToPath(new URL("../out/bench/", import.meta.url));
const config = {
  model_type: "mistral",
  vocab_size: 4096,
  hidden_size: 256,
  num_attention_heads: 8,
  num_key_value_heads: 2,
  num_hidden_layers: 4,
  intermediate_size: 768,
  max_position_embeddings: 4096,
  sliding_window: window,
  tie_word_embeddings: false,
  pad_token_id: 0,
};

const windowed = createModel(config, { seed: 0, std: 0.08 });
const full = createModel({ ...config, sliding_window: null }, { seed: 0, std: 0.08 });
const rng = new Rng(1);
const prompt = Array.from({ length: promptLength }, () => rng.int(config.vocab_size));
const params = windowed.parameters().reduce((n, p) => n + p.size, 0);
console.log(
  `Mistral shape: vocab ${config.vocab_size}, width ${config.hidden_size}, ${config.num_hidden_layers} layers, ` +
    `${config.num_attention_heads}/${config.num_key_value_heads} heads, window ${window}, ${(params / 1e6).toFixed(2)}M parameters; ` +
    `${promptLength}-token prompt, ${steps} decoded tokens; node ${process.version}`,
);

/** Greedy decoding with the cache: per-step ms, the ids, and the cache's held and buffered positions at the end. */
function decode(model) {
  return noGrad(() => {
    const cache = model.createCache();
    let logits = model.forward(tensor([prompt], { dtype: "int32" }), { cache });
    const ids = [];
    const ms = [];
    for (let step = 0; step < steps; step++) {
      const start = performance.now();
      const next = tidy(() => logits.slice(1, -1).reshape(-1).argmax(0)); // the views freed with it
      const id = next.dataSync()[0];
      next.dispose();
      logits.dispose();
      const input = tensor([[id]], { dtype: "int32" });
      logits = model.forward(input, { cache, logitsToKeep: 1 });
      input.dispose();
      ms.push(performance.now() - start);
      ids.push(id);
    }
    logits.dispose();
    const kvBytes = (positions) => positions * 2 * config.num_key_value_heads * (config.hidden_size / config.num_attention_heads) * 4;
    const held = cache.layers.reduce((n, layer) => n + layer.keys.shape[2], 0);
    const buffered = cache.layers.reduce((n, layer) => n + layer.capacity, 0);
    cache.dispose();
    return { ids, ms, heldKvBytes: kvBytes(held), bufferedKvBytes: kvBytes(buffered) };
  });
}

const mean = (xs) => xs.reduce((a, b) => a + b, 0) / xs.length;
const rows = {};
const report = (name, r) => {
  const first = mean(r.ms.slice(0, span));
  const last = mean(r.ms.slice(-span));
  rows[name] = { firstMsPerToken: first, lastMsPerToken: last, heldKvBytes: r.heldKvBytes, bufferedKvBytes: r.bufferedKvBytes ?? null };
  const buffered = r.bufferedKvBytes === undefined ? "" : `, buffers ${(r.bufferedKvBytes / 1024).toFixed(0)} KiB`;
  console.log(
    `${name.padEnd(34)} first ${span}: ${first.toFixed(2)} ms/token, last ${span}: ${last.toFixed(2)} ms/token; ` +
      `KV held at the end ${(r.heldKvBytes / 1024).toFixed(0)} KiB${buffered}`,
  );
};

decode(windowed); // warm-up
const ours = decode(windowed);
report("@llm, window 128 (CPU backend)", ours);
const oursFull = decode(full);
report("@llm, no window (CPU backend)", oursFull);

const python = process.env.LLM_BENCH_PYTHON ?? "python3";
let peer = null;
try {
  execFileSync(python, ["-c", "import torch, transformers"], { stdio: "pipe" });
  const dir = mkdtempSync(join(tmpdir(), "llm-bench-sliding-"));
  try {
    await saveModel(windowed, dir);
    const script = fileURLToPath(new URL("./sliding_window_torch.py", import.meta.url));
    const out = execFileSync(python, [script, JSON.stringify({ dir, prompt, steps, threads: 1 })], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      env: {
        ...process.env,
        OMP_NUM_THREADS: "1",
        OPENBLAS_NUM_THREADS: "1",
        HF_HUB_DISABLE_PROGRESS_BARS: "1",
        TRANSFORMERS_VERBOSITY: "error",
      },
    });
    peer = JSON.parse(out.trim().split("\n").pop());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  report(`transformers ${peer.transformers} (torch ${peer.torch}, 1 thread)`, { ms: peer.ms, heldKvBytes: peer.held_kv_bytes });
  const agree = peer.ids.findIndex((id, i) => id !== ours.ids[i]);
  console.log(`greedy tokens: ${agree === -1 ? `all ${steps} identical` : `first difference at step ${agree}`} (@llm vs transformers)`);
  console.log(
    `ratio transformers/@llm ms per token (last ${span}): ${(mean(peer.ms.slice(-span)) / rows["@llm, window 128 (CPU backend)"].lastMsPerToken).toFixed(2)}x`,
  );
} catch (error) {
  const why = error.code === "ENOENT" ? `${python} not found` : (error.stderr?.toString().trim().split("\n").pop() ?? String(error));
  console.log(`transformers: skipped (${why}); set LLM_BENCH_PYTHON to a Python with torch and transformers`);
}

mkdirSync(OUT, { recursive: true });
writeFileSync(
  `${OUT}sliding_window.json`,
  `${JSON.stringify({ config, promptLength, steps, span, node: process.version, rows, idsAgree: peer ? peer.ids.every((id, i) => id === ours.ids[i]) : null }, null, 2)}\n`,
);
console.log(`wrote ${OUT}sliding_window.json`);
