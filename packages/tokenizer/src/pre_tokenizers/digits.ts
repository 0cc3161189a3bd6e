import type { PreTokenizer } from "./pre_tokenizer.js";
import { splitByMatches, regexMatches } from "./split_behavior.js";

/** Splits numbers from the rest: each digit alone, or runs of digits. */
export class DigitsPreTokenizer implements PreTokenizer {
  private readonly regex: RegExp;
  constructor(readonly individualDigits: boolean) {
    this.regex = individualDigits ? /\p{N}/gu : /\p{N}+/gu;
  }
  split(text: string, out: string[]): void {
    const s: number[] = [];
    const e: number[] = [];
    regexMatches(this.regex, text, s, e);
    splitByMatches(text, s, e, "Isolated", false, out);
  }
  toJSON() {
    return { type: "Digits", individual_digits: this.individualDigits };
  }
}
