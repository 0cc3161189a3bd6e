import { TokenizerError, checkNesting, describe } from "../utils/errors.js";
import { expectBoolean, expectPattern, expectString } from "../serialization/expect.js";
import type { PreTokenizer } from "./pre_tokenizer.js";
import { SplitPreTokenizer } from "./split.js";
import { ByteLevelPreTokenizer, GPT2_PATTERN } from "./byte_level.js";
import { DigitsPreTokenizer } from "./digits.js";
import { MetaspacePreTokenizer, type PrependScheme } from "./metaspace.js";
import { WhitespacePreTokenizer, WhitespaceSplitPreTokenizer } from "./whitespace.js";
import { SequencePreTokenizer, flattenPreTokenizers } from "./sequence.js";
import { parseBehavior } from "./split_behavior.js";

export type { PreTokenizer, FastSplit } from "./pre_tokenizer.js";
export type { SplitBehavior } from "./split_behavior.js";
export {
  SplitPreTokenizer,
  ByteLevelPreTokenizer,
  DigitsPreTokenizer,
  MetaspacePreTokenizer,
  WhitespacePreTokenizer,
  WhitespaceSplitPreTokenizer,
  SequencePreTokenizer,
  GPT2_PATTERN,
  flattenPreTokenizers,
};

function prependScheme(j: Record<string, unknown>, path: string): PrependScheme {
  if (j.prepend_scheme === undefined) return j.add_prefix_space === false ? "never" : "always";
  if (j.prepend_scheme === "always" || j.prepend_scheme === "first" || j.prepend_scheme === "never") return j.prepend_scheme;
  throw new TokenizerError(`${path}.prepend_scheme: expected "always", "first" or "never", found ${describe(j.prepend_scheme)}`);
}

/** Builds a pre-tokenizer from its tokenizer.json form; `path` names it in errors. */
export function preTokenizerFromJSON(json: unknown, path = "pre_tokenizer", depth = 0): PreTokenizer | null {
  if (json === null || json === undefined) return null;
  checkNesting(path, depth);
  if (typeof json !== "object") throw new TokenizerError(`${path}: expected an object with a "type", found ${describe(json)}`);
  const j = json as Record<string, unknown>;
  switch (j.type) {
    case "Split":
      return new SplitPreTokenizer(
        expectPattern(j.pattern, `${path}.pattern`),
        parseBehavior(j.behavior, `${path}.behavior`),
        expectBoolean(j.invert, `${path}.invert`, false),
        "ascii",
        `${path}.pattern (pre_tokenizer Split pattern)`,
      );
    case "ByteLevel":
      return new ByteLevelPreTokenizer(
        expectBoolean(j.add_prefix_space, `${path}.add_prefix_space`, true),
        expectBoolean(j.use_regex, `${path}.use_regex`, true),
        expectBoolean(j.trim_offsets, `${path}.trim_offsets`, true),
      );
    case "Digits":
      return new DigitsPreTokenizer(expectBoolean(j.individual_digits, `${path}.individual_digits`, false));
    case "Metaspace":
      return new MetaspacePreTokenizer(
        j.replacement === undefined ? "\u2581" : expectString(j.replacement, `${path}.replacement`),
        prependScheme(j, path),
        expectBoolean(j.split, `${path}.split`, true),
      );
    case "Whitespace":
      return new WhitespacePreTokenizer();
    case "WhitespaceSplit":
      return new WhitespaceSplitPreTokenizer();
    case "Sequence": {
      if (!Array.isArray(j.pretokenizers))
        throw new TokenizerError(`${path}.pretokenizers: expected an array, found ${describe(j.pretokenizers)}`);
      return new SequencePreTokenizer(
        j.pretokenizers.map((p, i) => preTokenizerFromJSON(p, `${path}.pretokenizers[${i}]`, depth + 1)!).filter(Boolean),
      );
    }
    default:
      throw new TokenizerError(
        `${path}.type: unsupported pre-tokenizer ${describe(j.type)}; supported: Split, ByteLevel, Digits, Metaspace, Whitespace, WhitespaceSplit, Sequence`,
      );
  }
}
