// pnpm bench:train — training throughput: one step (forward, cross-entropy, backward, AdamW) of a
// GPT-2-shaped model with vocabulary 4096, context 128, width 256, 4 layers, 4 heads, batch 16
// (~4.2M parameters), @llm/* on the CPU backend beside PyTorch (/usr/bin/python3) on the same
// config and step, with the same thread count: 1, and all cores. Each of ours runs in a process of
// its own (`--child <threads>`), as PyTorch does. One warm-up step each; the best of the timed steps
// counts. Prints both and the ratio; writes out/bench/train.json. Uses the built packages.
import { execFileSync } from "node:child_process";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";
import { createModel } from "../packages/models/dist/index.js";
import { CpuBackend, Rng, setBackend, tidy } from "../packages/tensor/dist/index.js";
import { AdamW, languageModelLoss } from "../packages/train/dist/index.js";

const quick = process.argv.includes("--quick");
const steps = quick ? 1 : 3;
const shape = { vocab: 4096, context: 128, width: 256, layers: 4, heads: 4, batch: 16 };
const tokens = shape.batch * shape.context;
const child = process.argv.indexOf("--child");

/** Our step on `threads` threads, in this process: prints one JSON line. */
async function ours(threads) {
  const backend = new CpuBackend({ threads });
  setBackend(backend);
  const config = {
    model_type: "gpt2",
    vocab_size: shape.vocab,
    n_positions: shape.context,
    n_embd: shape.width,
    n_layer: shape.layers,
    n_head: shape.heads,
    activation_function: "gelu_new",
    tie_word_embeddings: true,
  };
  const model = createModel(config, { seed: 0 });
  const params = model.parameters().reduce((n, p) => n + p.size, 0);
  const optimizer = new AdamW(model.namedParameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
  const rng = new Rng(1);
  const stream = Int32Array.from({ length: tokens + shape.batch }, () => rng.int(shape.vocab));
  const at = (i, shift) => stream[Math.floor(i / shape.context) * (shape.context + 1) + (i % shape.context) + shift] ?? 0;
  const batch = {
    batchSize: shape.batch,
    seqLen: shape.context,
    inputs: Int32Array.from({ length: tokens }, (_, i) => at(i, 0)),
    targets: Int32Array.from({ length: tokens }, (_, i) => at(i, 1)),
  };
  async function step() {
    optimizer.zeroGrad();
    const loss = tidy(() => {
      const { sum, count } = languageModelLoss(model, batch);
      const mean = sum.div(count);
      mean.backward();
      return mean;
    });
    const value = await loss.item();
    loss.dispose();
    optimizer.step();
    return value;
  }
  await step(); // warm-up
  let best = Infinity;
  let bestCpu = Infinity;
  for (let i = 0; i < steps; i++) {
    const start = performance.now();
    const usage = process.cpuUsage();
    await step();
    const { user, system } = process.cpuUsage(usage);
    best = Math.min(best, performance.now() - start);
    bestCpu = Math.min(bestCpu, (user + system) / 1e3);
  }
  console.log(
    JSON.stringify({
      tokens_per_s: (tokens / best) * 1e3,
      step_ms: best,
      tokens_per_cpu_s: (tokens / bestCpu) * 1e3,
      params,
      threads: backend.threads,
      relaxedSimd: backend.relaxedSimd,
    }),
  );
  backend.close();
}

if (child >= 0) {
  await ours(Number(process.argv[child + 1]));
  process.exit(0);
}

const python = "/usr/bin/python3";
let torchError = null;
try {
  execFileSync(python, ["-c", "import torch"], { stdio: "pipe" });
} catch (error) {
  torchError = error.code === "ENOENT" ? `${python} not found` : (error.stderr?.toString().trim().split("\n").pop() ?? String(error));
  console.log(`PyTorch: skipped (${torchError}); on Debian: apt-get install -y python3-torch libopenblas0-pthread`);
}

const cores = availableParallelism();
const threadCounts = [...new Set([1, cores])];
console.log(
  `GPT-2 shape: vocab ${shape.vocab}, context ${shape.context}, width ${shape.width}, ${shape.layers} layers, ${shape.heads} heads, ` +
    `batch ${shape.batch} (${tokens} tokens/step); ${cpus()[0]?.model ?? "cpu"} x ${cores}; node ${process.version}; ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
);
const results = [];
for (const threads of threadCounts) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: "utf8", env }).trim().split("\n").pop());
  const childArgs = [fileURLToPath(import.meta.url), "--child", String(threads), ...(quick ? ["--quick"] : [])];
  // with relaxed SIMD where this Node has it (see relaxed_simd.mjs), and on plain SIMD
  const us = run(process.execPath, [...relaxedSimdFlags, ...childArgs]);
  const plain = relaxedSimdFlags.length ? run(process.execPath, childArgs) : null;
  const script = fileURLToPath(new URL("./train_torch.py", import.meta.url));
  const torch = torchError ? null : run(python, [script, JSON.stringify({ ...shape, threads, steps })]);
  results.push({ threads, ours: us, oursPlainSimd: plain, pytorch: torch });
  console.log(`\n${threads} thread${threads > 1 ? "s" : ""}:`);
  console.log(
    `  @llm/train (CPU backend${us.relaxedSimd ? ", relaxed SIMD" : ""}): ${us.step_ms.toFixed(0)} ms/step = ${Math.round(us.tokens_per_s).toLocaleString("en-US")} tokens/s (${(us.params / 1e6).toFixed(2)}M parameters)`,
  );
  if (plain) {
    console.log(
      `  @llm/train (plain SIMD): ${plain.step_ms.toFixed(0)} ms/step = ${Math.round(plain.tokens_per_s).toLocaleString("en-US")} tokens/s` +
        (threads === 1 ? `; ${Math.round(plain.tokens_per_cpu_s).toLocaleString("en-US")} per CPU-second` : ""),
    );
  }
  if (torch) {
    console.log(
      `  PyTorch ${torch.torch}: ${torch.step_ms.toFixed(0)} ms/step = ${Math.round(torch.tokens_per_s).toLocaleString("en-US")} tokens/s`,
    );
    console.log(`  ratio @llm/PyTorch: ${(us.tokens_per_s / torch.tokens_per_s).toFixed(2)}x`);
    if (threads === 1) {
      // one thread: per second of process CPU time too, far less disturbed by other load
      console.log(
        `  per CPU-second: ours ${Math.round(us.tokens_per_cpu_s).toLocaleString("en-US")}, PyTorch ${Math.round(torch.tokens_per_cpu_s).toLocaleString("en-US")} tokens = ${(us.tokens_per_cpu_s / torch.tokens_per_cpu_s).toFixed(2)}x`,
      );
    }
  }
}
if (threadCounts.length > 1) {
  const [one, all] = [results[0].ours.tokens_per_s, results[results.length - 1].ours.tokens_per_s];
  console.log(`\nours, ${cores} threads over 1: ${(all / one).toFixed(2)}x`);
}
console.log(
  `load average after ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (a shared machine makes every figure noisy)`,
);
const out = fileURLToPath(new URL("../out/bench/", import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  `${out}train.json.tmp`,
  `${JSON.stringify({ benchmark: "train", node: process.version, cores, shape, tokens, results }, null, 2)}\n`,
);
renameSync(`${out}train.json.tmp`, `${out}train.json`);
console.log(`figures written to ${out}train.json`);
