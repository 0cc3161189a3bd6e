import type { PreTokenizer } from "./pre_tokenizer.js";
import { splitByMatches, stringMatches } from "./split_behavior.js";

export type PrependScheme = "always" | "first" | "never";

/** SentencePiece-style: spaces become "▁", a "▁" is prepended, and pieces start at each "▁". */
export class MetaspacePreTokenizer implements PreTokenizer {
  constructor(
    readonly replacement: string,
    readonly prependScheme: PrependScheme,
    readonly splitPieces: boolean,
  ) {}
  split(text: string, out: string[], first: boolean): void {
    text = text.split(" ").join(this.replacement);
    if ((this.prependScheme === "always" || (this.prependScheme === "first" && first)) && !text.startsWith(this.replacement))
      text = this.replacement + text;
    if (!this.splitPieces) {
      if (text.length > 0) out.push(text);
      return;
    }
    const s: number[] = [];
    const e: number[] = [];
    stringMatches(this.replacement, text, s, e);
    splitByMatches(text, s, e, "MergedWithNext", false, out);
  }
  toJSON() {
    return { type: "Metaspace", replacement: this.replacement, prepend_scheme: this.prependScheme, split: this.splitPieces };
  }
}
