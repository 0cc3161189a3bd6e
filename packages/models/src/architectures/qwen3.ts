import { defineArchitecture } from "../architecture.js";
import { LLAMA_KEYS, llamaFamily } from "./llama_family.js";

/**
 * Qwen3: LLaMA's blocks with an RMSNorm over each head's queries and keys before rotary (q_norm,
 * k_norm), head_dim of its own (heads x head_dim need not be the width), attention_bias on all
 * four projections when set, and Qwen2's sliding-window rule.
 */
export const qwen3 = defineArchitecture({
  modelType: "qwen3",
  className: "Qwen3ForCausalLM",
  keys: LLAMA_KEYS,
  build(c) {
    const bias = c.bool("attention_bias", false);
    return llamaFamily(c, {
      maxPositions: 32768,
      headDimDefault: 128,
      qkvBias: bias,
      outputBias: bias,
      headNorms: true,
      slidingWindow: { rule: "qwen", windowDefault: 4096 },
    });
  },
});
