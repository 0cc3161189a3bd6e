import { defineArchitecture } from "../architecture.js";
import { LLAMA_KEYS, llamaFamily } from "./llama_family.js";

/**
 * Mistral: LLaMA's blocks (RMSNorm, SwiGLU, rotary, grouped-query attention, no biases) with a
 * sliding window of `sliding_window` positions on every layer (none when it is null, as from
 * v0.2 on); the cache keeps only the window.
 */
export const mistral = defineArchitecture({
  modelType: "mistral",
  className: "MistralForCausalLM",
  keys: LLAMA_KEYS,
  build: (c) =>
    llamaFamily(c, {
      maxPositions: 4096 * 32,
      qkvBias: false,
      outputBias: false,
      slidingWindow: { rule: "every-layer", windowDefault: 4096 },
    }),
});
