import { TokenizerError, checkNesting, describe } from "../utils/errors.js";
import type { Normalizer } from "./normalizer.js";
import { UnicodeNormalizer } from "./unicode.js";
import { ReplaceNormalizer, type Pattern } from "./replace.js";
import { PrependNormalizer } from "./prepend.js";
import { LowercaseNormalizer } from "./lowercase.js";
import { StripNormalizer } from "./strip.js";
import { SequenceNormalizer } from "./sequence.js";
import { expectString, expectPattern } from "../serialization/expect.js";

export type { Normalizer } from "./normalizer.js";
export { UnicodeNormalizer, ReplaceNormalizer, PrependNormalizer, LowercaseNormalizer, StripNormalizer, SequenceNormalizer };
export type { Pattern };

/** Builds a normalizer from its tokenizer.json form; `path` names it in errors. */
export function normalizerFromJSON(json: unknown, path = "normalizer", depth = 0): Normalizer | null {
  if (json === null || json === undefined) return null;
  checkNesting(path, depth);
  if (typeof json !== "object") throw new TokenizerError(`${path}: expected an object with a "type", found ${describe(json)}`);
  const j = json as Record<string, unknown>;
  switch (j.type) {
    case "NFC":
    case "NFD":
    case "NFKC":
    case "NFKD":
      return new UnicodeNormalizer(j.type);
    case "Replace":
      return new ReplaceNormalizer(
        expectPattern(j.pattern, `${path}.pattern`),
        expectString(j.content, `${path}.content`),
        `${path}.pattern (normalizer Replace pattern)`,
      );
    case "Prepend":
      return new PrependNormalizer(expectString(j.prepend, `${path}.prepend`));
    case "Lowercase":
      return new LowercaseNormalizer();
    case "Strip":
      return new StripNormalizer(j.strip_left !== false, j.strip_right !== false);
    case "Sequence": {
      if (!Array.isArray(j.normalizers))
        throw new TokenizerError(`${path}.normalizers: expected an array, found ${describe(j.normalizers)}`);
      return new SequenceNormalizer(
        j.normalizers.map((n, i) => normalizerFromJSON(n, `${path}.normalizers[${i}]`, depth + 1)!).filter(Boolean),
      );
    }
    default:
      throw new TokenizerError(
        `${path}.type: unsupported normalizer ${describe(j.type)}; supported: NFC, NFD, NFKC, NFKD, Replace, Prepend, Lowercase, Strip, Sequence`,
      );
  }
}
