import type { FastSplit, PreTokenizer } from "./pre_tokenizer.js";
import { scannerFor } from "./fast_scan.js";
import { splitByMatches, regexMatches, stringMatches, type SplitBehavior } from "./split_behavior.js";
import type { Pattern } from "../normalizers/replace.js";
import { compileRegex } from "../utils/regex.js";

/** Splits on a string or regex pattern with one of Hugging Face's split behaviors. */
export class SplitPreTokenizer implements PreTokenizer {
  readonly regex: RegExp | null;
  constructor(
    readonly pattern: Pattern,
    readonly behavior: SplitBehavior,
    readonly invert: boolean,
    readonly caseFold: "ascii" | "unicode" = "ascii",
    /** Where the pattern came from, for error messages. */
    source = "pre_tokenizer Split pattern",
  ) {
    this.regex = "Regex" in pattern ? compileRegex(pattern.Regex, { source, caseFold }) : null;
  }

  /** True when every match and every gap between matches becomes its own piece. */
  get isolatesEverything(): boolean {
    return (this.behavior === "Isolated" && !this.invert) || false;
  }

  /**
   * This split as one regex over the whole text, when it is one: a regex that is Isolated (its
   * matches and the gaps between them are the pieces) or inverted Removed (only the matches).
   * Not the PreTokenizer's fastSplit: a Split is asked only inside a Sequence with ByteLevel.
   */
  regexSplit(): FastSplit | null {
    if (!this.regex) return null;
    let keepGaps: boolean;
    if (this.behavior === "Isolated" && !this.invert) keepGaps = true;
    else if (this.behavior === "Removed" && this.invert) keepGaps = false;
    else return null;
    // the scanners cover the whole text, as these regexes do (every character is in some alternative)
    return { regex: this.regex, keepGaps, scanner: scannerFor((this.pattern as { Regex: string }).Regex, this.caseFold) };
  }

  split(text: string, out: string[]): void {
    const starts: number[] = [];
    const ends: number[] = [];
    if (this.regex) regexMatches(this.regex, text, starts, ends);
    else stringMatches((this.pattern as { String: string }).String, text, starts, ends);
    splitByMatches(text, starts, ends, this.behavior, this.invert, out);
  }

  toJSON() {
    return { type: "Split", pattern: this.pattern, behavior: this.behavior, invert: this.invert };
  }
}
