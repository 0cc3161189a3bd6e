// The training step bench:train and bench:webgpu time: forward, cross-entropy, backward and AdamW
// of a GPT-2-shaped model with random weights, on whatever backend is current. Uses the built
// packages (bench:train and bench:webgpu build them first).
import { createModel } from "@llm/models";
import { Rng, setBackend, tidy } from "@llm/tensor";
import { AdamW, languageModelLoss } from "@llm/train";

/** bench:train's shape: ~4.2M parameters, 2,048 tokens a step. */
export const TRAIN_SHAPE = { vocab: 4096, context: 128, width: 256, layers: 4, heads: 4, batch: 16 };

/**
 * Times `steps` training steps on `backend` after one warm-up step (pipelines, pools); the best
 * counts. `sync` waits for queued device work (WebGPU), so a step's time includes its AdamW.
 */
export async function timeTrainingStep(backend, shape, { steps, sync = async () => {} }) {
  setBackend(backend);
  const tokens = shape.batch * shape.context;
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
  const model = createModel(config, { seed: 0, backend });
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
    await sync();
    return value;
  }
  let start = performance.now();
  const firstLoss = await step(); // warm-up
  const firstMs = performance.now() - start;
  let best = Infinity;
  let bestCpu = Infinity;
  for (let i = 0; i < steps; i++) {
    start = performance.now();
    const usage = process.cpuUsage();
    await step();
    const { user, system } = process.cpuUsage(usage);
    best = Math.min(best, performance.now() - start);
    bestCpu = Math.min(bestCpu, (user + system) / 1e3);
  }
  model.dispose?.();
  return {
    tokens_per_s: (tokens / best) * 1e3,
    step_ms: best,
    first_step_ms: firstMs,
    tokens_per_cpu_s: (tokens / bestCpu) * 1e3,
    params,
    first_loss: firstLoss,
  };
}
