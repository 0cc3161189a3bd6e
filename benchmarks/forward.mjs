// pnpm bench:forward — forward and KV-cache decode throughput of @llm/models on the CPU backend for
// a GPT-2-small-shaped model (random weights: 12 layers, 768 wide, 12 heads, 1024 context, 50257
// vocabulary): one forward over batch 1 x 128 tokens, then greedy decoding with the KV cache after
// a 128-token prompt. The forward gets a warm-up run and the best of the timed runs counts; decoding
// runs once, after the forwards have warmed the code up.
// Uses the built packages (the root script builds @llm/models and its dependencies first).
import { createModel } from "../packages/models/dist/index.js";
import { noGrad, Rng, tensor } from "../packages/tensor/dist/index.js";

const quick = process.argv.includes("--quick");
const promptLength = 128;
const decodeSteps = quick ? 8 : 32;
const runs = quick ? 1 : 3;

const config = {
  model_type: "gpt2",
  vocab_size: 50257,
  n_positions: 1024,
  n_embd: 768,
  n_layer: 12,
  n_head: 12,
  activation_function: "gelu_new",
};

const t0 = performance.now();
const model = createModel(config, { seed: 0 });
const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
console.log(
  `GPT-2 small shape: ${(parameters / 1e6).toFixed(1)}M parameters, random init in ${((performance.now() - t0) / 1e3).toFixed(1)} s; node ${process.version}`,
);

const rng = new Rng(1);
const prompt = tensor([Array.from({ length: promptLength }, () => rng.int(config.vocab_size))], { dtype: "int32" });

function best(fn) {
  fn(); // warm-up
  let ms = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    fn();
    ms = Math.min(ms, performance.now() - start);
  }
  return ms;
}

const forwardMs = best(() =>
  noGrad(() => {
    model.forward(prompt).dispose();
  }),
);
console.log(`forward  batch 1 x ${promptLength}: ${forwardMs.toFixed(0)} ms = ${((promptLength / forwardMs) * 1e3).toFixed(1)} tokens/s`);

/** Prefill the prompt into a fresh cache, then decode greedily one token at a time. */
function decode() {
  return noGrad(() => {
    const cache = model.createCache();
    let start = performance.now();
    let logits = model.forward(prompt, { cache });
    const prefillMs = performance.now() - start;
    start = performance.now();
    for (let step = 0; step < decodeSteps; step++) {
      const next = logits.slice(1, -1).reshape(-1).argmax(0).reshape(1, 1);
      logits.dispose();
      logits = model.forward(next, { cache });
      next.dispose();
    }
    const decodeMs = performance.now() - start;
    logits.dispose();
    cache.dispose();
    return { prefillMs, decodeMs };
  });
}

const decoded = decode();
console.log(
  `decode   ${decodeSteps} tokens with the KV cache after a ${promptLength}-token prompt (prefill ${decoded.prefillMs.toFixed(0)} ms): ` +
    `${decoded.decodeMs.toFixed(0)} ms = ${((decodeSteps / decoded.decodeMs) * 1e3).toFixed(1)} tokens/s`,
);
