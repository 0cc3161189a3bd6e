import type { Decoder } from "./decoder.js";
import type { Pattern } from "../normalizers/replace.js";
import { compileRegex } from "../utils/regex.js";

/** Replaces a string or regex in every token. */
export class ReplaceDecoder implements Decoder {
  private readonly regex: RegExp | null;
  constructor(
    readonly pattern: Pattern,
    readonly content: string,
    /** Where the pattern came from, for error messages. */
    source = "decoder Replace pattern",
  ) {
    this.regex = "Regex" in pattern ? compileRegex(pattern.Regex, { source }) : null;
  }
  decodeChain(tokens: string[]): string[] {
    if (this.regex) return tokens.map((t) => t.replace(this.regex!, () => this.content));
    const s = (this.pattern as { String: string }).String;
    return tokens.map((t) => t.split(s).join(this.content));
  }
  toJSON() {
    return { type: "Replace", pattern: this.pattern, content: this.content };
  }
}
