/** A normalizer rewrites text before pre-tokenization (Hugging Face `normalizer`). */
export interface Normalizer {
  normalize(text: string): string;
  /** the tokenizer.json form */
  toJSON(): Record<string, unknown>;
}
