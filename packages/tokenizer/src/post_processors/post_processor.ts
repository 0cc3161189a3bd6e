/** Adds the special tokens a model expects around encoded sequences (Hugging Face `post_processor`). */
export interface PostProcessor {
  process(a: number[], b: number[] | null, addSpecialTokens: boolean): number[];
  toJSON(): Record<string, unknown>;
  /** Every token id it can add (checked against the vocabulary when the tokenizer is built). */
  addedIds?(): number[];
}
