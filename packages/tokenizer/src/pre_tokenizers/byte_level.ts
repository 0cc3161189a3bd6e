import type { FastSplit, PreTokenizer } from "./pre_tokenizer.js";
import { scannerFor } from "./fast_scan.js";
import { compileRegex } from "../utils/regex.js";

/** GPT-2's pre-tokenization pattern, used by the ByteLevel pre-tokenizer when `use_regex` is set. */
export const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

/**
 * Byte-level pre-tokenization: an optional prefix space, an optional GPT-2 regex split; the
 * mapping of each UTF-8 byte to a printable character is done by the byte-level BPE model, which
 * works on bytes directly.
 */
export class ByteLevelPreTokenizer implements PreTokenizer {
  readonly regex: RegExp | null;
  constructor(
    readonly addPrefixSpace: boolean,
    readonly useRegex: boolean,
    readonly trimOffsets = true,
  ) {
    this.regex = useRegex ? compileRegex(GPT2_PATTERN, { source: "ByteLevel pre-tokenizer" }) : null;
  }

  get byteLevel(): true {
    return true;
  }

  /** With its regex and no prefix space, the pieces are GPT-2's regex matches and the gaps between them. */
  fastSplit(): FastSplit | null {
    if (!this.regex || this.addPrefixSpace) return null;
    return { regex: this.regex, keepGaps: true, scanner: scannerFor(GPT2_PATTERN, "ascii") };
  }

  /** No regex and no prefix space: each piece passes through whole, only marked for the byte-level model. */
  get passesPiecesThrough(): boolean {
    return !this.regex && !this.addPrefixSpace;
  }

  split(text: string, out: string[]): void {
    if (this.addPrefixSpace && !text.startsWith(" ")) text = ` ${text}`;
    if (!this.regex) {
      if (text.length > 0) out.push(text);
      return;
    }
    const re = this.regex;
    re.lastIndex = 0;
    let last = 0;
    let m: RegExpExecArray | null;
    while ((m = re.exec(text)) !== null) {
      if (m.index > last) out.push(text.slice(last, m.index));
      out.push(m[0]);
      last = m.index + m[0].length;
    }
    if (last < text.length) out.push(text.slice(last));
  }

  toJSON() {
    return { type: "ByteLevel", add_prefix_space: this.addPrefixSpace, trim_offsets: this.trimOffsets, use_regex: this.useRegex };
  }
}
