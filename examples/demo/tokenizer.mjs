// Trains the demo's byte-level BPE tokenizer with @llm/tokenizer's trainBPE.
import * as tokenizers from "@llm/tokenizer";

/** A byte-level BPE tokenizer with `vocabSize` tokens learned from `text`. */
export async function trainTokenizer(text, vocabSize) {
  const { trainBPE } = tokenizers;
  if (typeof trainBPE !== "function") throw new Error("@llm/tokenizer has no trainBPE export; build it first (pnpm build)");
  return trainBPE([text], { vocabSize });
}
