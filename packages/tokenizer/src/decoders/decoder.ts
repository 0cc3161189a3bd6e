/** A decoder turns token strings back into text (Hugging Face `decoder`), one step of a chain. */
export interface Decoder {
  decodeChain(tokens: string[]): string[];
  toJSON(): Record<string, unknown>;
}
