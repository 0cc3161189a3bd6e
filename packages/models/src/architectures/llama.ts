import { defineArchitecture } from "../architecture.js";
import { LLAMA_KEYS, llamaFamily } from "./llama_family.js";

/**
 * LLaMA (1, 2, 3.x, SmolLM, ...): RMSNorm pre-norm blocks, SwiGLU MLP, rotary (rotate_half) on
 * whole heads with any rope scaling (Llama 3.1's "llama3", linear, dynamic, yarn, longrope),
 * grouped-query attention (num_key_value_heads kv heads shared by groups of query heads), an
 * explicit head_dim if given, no biases by default (attention_bias on all four projections,
 * mlp_bias on the MLP's three).
 */
export const llama = defineArchitecture({
  modelType: "llama",
  className: "LlamaForCausalLM",
  keys: LLAMA_KEYS,
  build(c) {
    const attentionBias = c.bool("attention_bias", false);
    return llamaFamily(c, { maxPositions: 2048, qkvBias: attentionBias, outputBias: attentionBias, mlpBias: c.bool("mlp_bias", false) });
  },
});
