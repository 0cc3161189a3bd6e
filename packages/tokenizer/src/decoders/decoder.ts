/** A decoder turns token strings back into text (Hugging Face `decoder`), one step of a chain. */
export interface Decoder {
  decodeChain(tokens: string[]): string[];
  /**
   * The UTF-8 bytes of one token, for a decoder whose text is the UTF-8 decoding of its tokens'
   * bytes one after another (ByteLevel); absent for the rest. The tokenizer then decodes bytes.
   */
  tokenBytes?(token: string): Uint8Array;
  toJSON(): Record<string, unknown>;
}
