import type { Decoder } from "./decoder.js";

export class SequenceDecoder implements Decoder {
  constructor(readonly decoders: Decoder[]) {}
  decodeChain(tokens: string[]): string[] {
    for (const d of this.decoders) tokens = d.decodeChain(tokens);
    return tokens;
  }
  toJSON() {
    return { type: "Sequence", decoders: this.decoders.map((d) => d.toJSON()) };
  }
}
