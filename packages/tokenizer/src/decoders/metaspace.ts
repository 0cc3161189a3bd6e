import type { Decoder } from "./decoder.js";
import type { PrependScheme } from "../pre_tokenizers/metaspace.js";

/** "▁" back to spaces; the space the pre-tokenizer prepended is removed from the first token. */
export class MetaspaceDecoder implements Decoder {
  constructor(
    readonly replacement: string,
    readonly prependScheme: PrependScheme,
    readonly splitPieces = true,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t, i) => {
      let s = t.split(this.replacement).join(" ");
      if (i === 0 && this.prependScheme !== "never" && s.startsWith(" ")) s = s.slice(1);
      return s;
    });
  }
  toJSON() {
    return { type: "Metaspace", replacement: this.replacement, prepend_scheme: this.prependScheme, split: this.splitPieces };
  }
}
