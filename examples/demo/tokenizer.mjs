// The demo's tokenizer: byte-level BPE (GPT-2 style) trained with @llm/tokenizer's trainBPE.
import { trainBPE } from "@llm/tokenizer";

/** A byte-level BPE tokenizer with `vocabSize` tokens (one of them <|endoftext|>) learned from `text`. */
export async function trainTokenizer(text, vocabSize) {
  // One text per line keeps each piece the trainer pre-tokenizes small.
  return trainBPE(text.split("\n"), { vocabSize, specialTokens: ["<|endoftext|>"] });
}
