import type { Llama, LlamaModel } from "node-llama-cpp";
import { noGrad, tensor, type Backend } from "@llm/tensor";
import type { Model } from "@llm/models";

/** Greedy tokens from both engines and the worst |log p - log p'| over every step's whole distribution. */
export interface LlamaCppComparison {
  readonly ours: number[];
  readonly theirs: number[];
  readonly worst: number;
}

/** log-softmax of a row, in float64. */
export function logSoftmax(row: Float32Array): Float64Array {
  let max = -Infinity;
  for (const v of row) max = Math.max(max, v);
  let sum = 0;
  for (const v of row) sum += Math.exp(v - max);
  const lse = max + Math.log(sum);
  return Float64Array.from(row, (v) => v - lse);
}

/**
 * The GGUF file at `path` run by native llama.cpp (one thread, float32 KV cache, no flash
 * attention: its most exact settings) and `model` (on `backend`) side by side for `steps` greedy
 * steps from `prompt`, each engine continuing from its own tokens; llama.cpp's whole next-token
 * distribution (controlledEvaluate with probabilities) against our log-softmax at every step.
 * `inspect` runs on the loaded native model first (to compare its tokenizer, say). `kvCache`
 * "float16": both keep keys and values as float16 (llama.cpp's default), ours decoding through
 * createCache({ dtype: "float16" }) step by step rather than a whole forward a step.
 */
export async function compareWithLlamaCpp(
  llama: Llama,
  model: Model,
  path: string,
  prompt: readonly number[],
  backend: Backend,
  options: { steps?: number; inspect?: (native: LlamaModel) => void; kvCache?: "float32" | "float16" } = {},
): Promise<LlamaCppComparison> {
  const native = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
  const context = await native.createContext({
    contextSize: 64,
    threads: 1,
    batchSize: 64,
    flashAttention: false,
    experimentalKvCacheKeyType: options.kvCache === "float16" ? "F16" : "F32",
    experimentalKvCacheValueType: options.kvCache === "float16" ? "F16" : "F32",
  });
  const cache = options.kvCache === "float16" ? model.createCache({ dtype: "float16" }) : null;
  const sequence = context.getSequence();
  try {
    options.inspect?.(native);
    const ours: number[] = [];
    const theirs: number[] = [];
    let worst = 0;
    let tokens = [...prompt];
    let pending = [...prompt];
    for (let step = 0; step < (options.steps ?? 8); step++) {
      const out = await sequence.controlledEvaluate(
        pending.map((t, i) => (i === pending.length - 1 ? [t, { generateNext: { probabilities: true } }] : t)) as never,
      );
      const probabilities = out[pending.length - 1]!.next.probabilities!;
      const logits = noGrad(() => {
        const input = cache ? pending : tokens;
        const all = model.forward(tensor([input], { dtype: "int32", backend }), cache ? { cache } : {});
        return all
          .slice(1, input.length - 1)
          .reshape(-1)
          .dataSync() as Float32Array;
      });
      const logp = logSoftmax(logits);
      for (let id = 0; id < logp.length; id++) {
        const p = probabilities.get(id as never) ?? 0;
        if (p > 0) worst = Math.max(worst, Math.abs(Math.log(p) - logp[id]!));
        else worst = Math.max(worst, logp[id]! > -30 ? Infinity : 0);
      }
      const mine = logp.indexOf(Math.max(...logp));
      ours.push(mine);
      theirs.push(Number(probabilities.keys().next().value));
      tokens = [...tokens, mine];
      pending = [mine];
    }
    return { ours, theirs, worst };
  } finally {
    cache?.dispose();
    await context.dispose();
    await native.dispose();
  }
}
