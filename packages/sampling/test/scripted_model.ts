import type { LanguageModel } from "@llm/layers";
import { tensor } from "@llm/tensor";

/**
 * A LanguageModel that "predicts" a fixed sequence: at step i its logits are one-hot on script[i],
 * so greedy generation yields exactly the script (any ids, e.g. a tokenizer's encoding of a text).
 */
export function scriptedModel(script: readonly number[], vocabSize: number): LanguageModel {
  let step = 0;
  return {
    config: { vocabSize, maxPositions: Infinity },
    createCache() {
      step = 0;
      return { length: 0, dispose() {} };
    },
    forward(ids) {
      const batch = ids.shape[0]!;
      const logits = new Float32Array(batch * vocabSize);
      logits[script[step++] ?? 0] = 1;
      return tensor(logits, { shape: [batch, 1, vocabSize] });
    },
  };
}
