import type { PreTokenizer } from "./pre_tokenizer.js";

const WORDS = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]+|[^\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}\p{White_Space}]+/gu;

/** `\w+|[^\w\s]+`: words and runs of punctuation, whitespace removed. */
export class WhitespacePreTokenizer implements PreTokenizer {
  split(text: string, out: string[]): void {
    for (const m of text.matchAll(WORDS)) out.push(m[0]);
  }
  toJSON() {
    return { type: "Whitespace" };
  }
}

/** Splits on whitespace, which is removed. */
export class WhitespaceSplitPreTokenizer implements PreTokenizer {
  split(text: string, out: string[]): void {
    for (const m of text.matchAll(/\P{White_Space}+/gu)) out.push(m[0]);
  }
  toJSON() {
    return { type: "WhitespaceSplit" };
  }
}
