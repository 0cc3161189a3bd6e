/** A pre-tokenizer splits normalized text into the pieces the model encodes one by one. */
export interface PreTokenizer {
  /** Appends the pieces of `text` to `out`; `first` is true for the section that starts the input. */
  split(text: string, out: string[], first: boolean): void;
  /** the tokenizer.json form */
  toJSON(): Record<string, unknown>;
}
