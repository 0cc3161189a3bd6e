import type { Normalizer } from "./normalizer.js";
import { compileRegex } from "../utils/regex.js";

export type Pattern = { String: string } | { Regex: string };

/** Replaces every occurrence of a string or regex with `content`. */
export class ReplaceNormalizer implements Normalizer {
  private readonly regex: RegExp | null;
  constructor(
    readonly pattern: Pattern,
    readonly content: string,
    /** Where the pattern came from, for error messages. */
    source = "normalizer Replace pattern",
  ) {
    this.regex = "Regex" in pattern ? compileRegex(pattern.Regex, { source }) : null;
  }
  normalize(text: string): string {
    if (this.regex) return text.replace(this.regex, () => this.content);
    return text.split((this.pattern as { String: string }).String).join(this.content);
  }
  toJSON() {
    return { type: "Replace", pattern: this.pattern, content: this.content };
  }
}
