import type { Decoder } from "./decoder.js";

/** Joins all tokens into one string. */
export class FuseDecoder implements Decoder {
  decodeChain(tokens: string[]): string[] {
    return [tokens.join("")];
  }
  toJSON() {
    return { type: "Fuse" };
  }
}
