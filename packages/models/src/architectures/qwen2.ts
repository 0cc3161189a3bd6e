import { defineArchitecture } from "../architecture.js";
import { LLAMA_KEYS, llamaFamily } from "./llama_family.js";

/**
 * Qwen2 / Qwen2.5: LLaMA's blocks with a bias on the query, key and value projections only (not
 * on o_proj), and a sliding window on the layers `layer_types` (or max_window_layers) names when
 * use_sliding_window is set.
 */
export const qwen2 = defineArchitecture({
  modelType: "qwen2",
  className: "Qwen2ForCausalLM",
  keys: LLAMA_KEYS,
  build: (c) =>
    llamaFamily(c, {
      maxPositions: 32768,
      qkvBias: true,
      outputBias: false,
      slidingWindow: { rule: "qwen", windowDefault: 4096 },
    }),
});
