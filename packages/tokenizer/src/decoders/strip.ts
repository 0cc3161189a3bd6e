import type { Decoder } from "./decoder.js";

/** Removes up to `start` leading and `stop` trailing occurrences of `content` from each token. */
export class StripDecoder implements Decoder {
  constructor(
    readonly content: string,
    readonly start: number,
    readonly stop: number,
  ) {}
  decodeChain(tokens: string[]): string[] {
    return tokens.map((t) => {
      const chars = Array.from(t);
      let a = 0;
      while (a < this.start && a < chars.length && chars[a] === this.content) a++;
      let b = chars.length;
      while (chars.length - b < this.stop && b > a && chars[b - 1] === this.content) b--;
      return chars.slice(a, b).join("");
    });
  }
  toJSON() {
    return { type: "Strip", content: this.content, start: this.start, stop: this.stop };
  }
}
