import { describe, expect, it } from "vitest";
import { concat, noGrad, Rng, tensor, type Tensor } from "@llm/tensor";
import { createModel, type Model } from "@llm/models";
import { maxAbsDiff } from "./fixture_files.js";

/**
 * Generation far past tiny windows: greedy decoding through the cache (which keeps only each
 * sliding layer's window) picks the same tokens with the same logits as recomputing the whole
 * sequence every step, and the sliding layers' caches stay at the window.
 */
const small = {
  vocab_size: 64,
  hidden_size: 32,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 3,
  intermediate_size: 48,
};
const FAMILIES: [string, Record<string, unknown>][] = [
  ["mistral, window 3 on every layer", { ...small, model_type: "mistral", sliding_window: 3 }],
  // untied: a tied head over sqrt(width)-scaled embeddings mostly echoes the last token
  [
    "gemma2, window 4 on layers 0 and 2",
    { ...small, model_type: "gemma2", head_dim: 8, query_pre_attn_scalar: 8, sliding_window: 4, tie_word_embeddings: false },
  ],
  ["qwen2, window 2 from layer 1 on", { ...small, model_type: "qwen2", use_sliding_window: true, sliding_window: 2, max_window_layers: 1 }],
  [
    "qwen3, window 5 where layer_types says",
    {
      ...small,
      model_type: "qwen3",
      head_dim: 8,
      use_sliding_window: true,
      sliding_window: 5,
      layer_types: ["full_attention", "sliding_attention", "sliding_attention"],
    },
  ],
  ["phi3, window 3 on every layer", { ...small, model_type: "phi3", sliding_window: 3 }],
];

function greedy(model: Model, prompt: number[], steps: number, useCache: boolean): { ids: number[]; logits: Tensor[] } {
  const cache = useCache ? model.createCache() : undefined;
  let sequence = tensor([prompt], { dtype: "int32" });
  let next = sequence;
  const ids: number[] = [];
  const logits: Tensor[] = [];
  noGrad(() => {
    for (let i = 0; i < steps; i++) {
      const out = model.forward(useCache ? next : sequence, { cache });
      const last = out.slice(1, out.shape[1]! - 1).reshape(-1);
      logits.push(last);
      const id = last.argmax(0).dataSync()[0]!;
      ids.push(id);
      next = tensor([[id]], { dtype: "int32" });
      sequence = concat([sequence, next], 1);
    }
  });
  if (cache) {
    const windows = model.blocks.map((b) => b.attention.slidingWindow);
    const total = prompt.length + steps - 1;
    cache.layers.forEach((layer, i) => {
      expect(layer.length).toBe(total);
      // a sliding layer holds what its last step attended to: window - 1 earlier positions and its own
      expect(layer.keys!.shape[2], `layer ${i}`).toBe(windows[i] === null ? total : Math.min(total, windows[i]!));
    });
    cache.dispose();
  }
  return { ids, logits };
}

describe.each(FAMILIES)("%s", (_, config) => {
  it("generates 24 tokens past the window with the cache exactly as without it", () => {
    const model = createModel(config, { rng: new Rng(21), std: 0.4 });
    expect(model.blocks.some((b) => b.attention.slidingWindow !== null)).toBe(true);
    const prompt = [3, 17, 42, 8, 1, 29];
    const full = greedy(model, prompt, 24, false);
    const cached = greedy(model, prompt, 24, true);
    expect(cached.ids).toEqual(full.ids);
    expect(new Set(full.ids).size).toBeGreaterThan(3); // not one token over and over
    const worst = Math.max(...cached.logits.map((l, i) => maxAbsDiff(l, full.logits[i]!)));
    expect(worst).toBeLessThan(1e-4);
  });
});
