// pnpm bench:train — training throughput: one step (forward, cross-entropy, backward, AdamW) of a
// GPT-2-shaped model with vocabulary 4096, context 128, width 256, 4 layers, 4 heads, batch 16
// (~4.2M parameters), @llm/* on the CPU backend beside PyTorch on the same config and step when
// /usr/bin/python3 can import torch (one thread each: the CPU backend runs on one thread).
// One warm-up step each; the best of the timed steps counts. Uses the built packages.
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { createModel } from "../packages/models/dist/index.js";
import { Rng } from "../packages/tensor/dist/index.js";
import { AdamW, languageModelLoss } from "../packages/train/dist/index.js";
import { tidy } from "../packages/tensor/dist/index.js";

const quick = process.argv.includes("--quick");
const steps = quick ? 1 : 3;
const shape = { vocab: 4096, context: 128, width: 256, layers: 4, heads: 4, batch: 16 };
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
const tokens = shape.batch * shape.context;

const model = createModel(config, { seed: 0 });
const params = model.parameters().reduce((n, p) => n + p.size, 0);
const optimizer = new AdamW(model.namedParameters(), { lr: 1e-3, betas: [0.9, 0.95], weightDecay: 0.1 });
const rng = new Rng(1);
const stream = Int32Array.from({ length: tokens + shape.batch }, () => rng.int(shape.vocab));
const batch = {
  batchSize: shape.batch,
  seqLen: shape.context,
  inputs: Int32Array.from(
    { length: tokens },
    (_, i) => stream[Math.floor(i / shape.context) * (shape.context + 1) + (i % shape.context)] ?? 0,
  ),
  targets: Int32Array.from(
    { length: tokens },
    (_, i) => stream[Math.floor(i / shape.context) * (shape.context + 1) + (i % shape.context) + 1] ?? 0,
  ),
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

console.log(
  `GPT-2 shape: vocab ${shape.vocab}, context ${shape.context}, width ${shape.width}, ${shape.layers} layers, ${shape.heads} heads, ` +
    `batch ${shape.batch} (${tokens} tokens/step), ${(params / 1e6).toFixed(2)}M parameters; node ${process.version}`,
);
await step(); // warm-up
let best = Infinity;
for (let i = 0; i < steps; i++) {
  const start = performance.now();
  await step();
  best = Math.min(best, performance.now() - start);
}
const ours = (tokens / best) * 1e3;
console.log(`@llm/train (CPU backend, 1 thread): ${best.toFixed(0)} ms/step = ${Math.round(ours).toLocaleString("en-US")} tokens/s`);

const python = "/usr/bin/python3";
let torchLine = null;
try {
  execFileSync(python, ["-c", "import torch"], { stdio: "pipe" });
  torchLine = "ok";
} catch (error) {
  const why = error.code === "ENOENT" ? `${python} not found` : (error.stderr?.toString().trim().split("\n").pop() ?? String(error));
  console.log(`PyTorch: skipped (${why}); on Debian: apt-get install -y python3-torch libopenblas0-pthread`);
}
if (torchLine) {
  const script = fileURLToPath(new URL("./train_torch.py", import.meta.url));
  const out = execFileSync(python, [script, JSON.stringify({ ...shape, threads: 1, steps })], {
    encoding: "utf8",
    env: { ...process.env, OMP_NUM_THREADS: "1", OPENBLAS_NUM_THREADS: "1" },
  });
  const r = JSON.parse(out.trim().split("\n").pop());
  console.log(
    `PyTorch ${r.torch} (CPU, ${r.threads} thread, ${(r.params / 1e6).toFixed(2)}M parameters): ${r.step_ms.toFixed(0)} ms/step = ` +
      `${Math.round(r.tokens_per_s).toLocaleString("en-US")} tokens/s`,
  );
  console.log(`ratio @llm/PyTorch: ${(ours / r.tokens_per_s).toFixed(2)}x`);
}
