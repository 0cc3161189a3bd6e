import { TokenizerError, checkNesting, describe } from "../utils/errors.js";
import { expectInt, expectPattern, expectString } from "../serialization/expect.js";
import type { Decoder } from "./decoder.js";
import { ByteLevelDecoder } from "./byte_level.js";
import { ByteFallbackDecoder } from "./byte_fallback.js";
import { MetaspaceDecoder } from "./metaspace.js";
import { FuseDecoder } from "./fuse.js";
import { StripDecoder } from "./strip.js";
import { ReplaceDecoder } from "./replace.js";
import { SequenceDecoder } from "./sequence.js";

export type { Decoder } from "./decoder.js";
export { ByteLevelDecoder, ByteFallbackDecoder, MetaspaceDecoder, FuseDecoder, StripDecoder, ReplaceDecoder, SequenceDecoder };

/** Builds a decoder from its tokenizer.json form; `path` names it in errors. */
export function decoderFromJSON(json: unknown, path = "decoder", depth = 0): Decoder | null {
  if (json === null || json === undefined) return null;
  checkNesting(path, depth);
  if (typeof json !== "object") throw new TokenizerError(`${path}: expected an object with a "type", found ${describe(json)}`);
  const j = json as Record<string, unknown>;
  switch (j.type) {
    case "ByteLevel":
      return new ByteLevelDecoder();
    case "ByteFallback":
      return new ByteFallbackDecoder();
    case "Metaspace": {
      const scheme =
        j.prepend_scheme === undefined
          ? j.add_prefix_space === false
            ? "never"
            : "always"
          : (j.prepend_scheme as "always" | "first" | "never");
      if (!["always", "first", "never"].includes(scheme))
        throw new TokenizerError(`${path}.prepend_scheme: expected "always", "first" or "never", found ${describe(j.prepend_scheme)}`);
      return new MetaspaceDecoder(
        j.replacement === undefined ? "\u2581" : expectString(j.replacement, `${path}.replacement`),
        scheme,
        j.split !== false,
      );
    }
    case "Fuse":
      return new FuseDecoder();
    case "Strip":
      return new StripDecoder(
        expectString(j.content, `${path}.content`),
        expectInt(j.start, `${path}.start`),
        expectInt(j.stop, `${path}.stop`),
      );
    case "Replace":
      return new ReplaceDecoder(
        expectPattern(j.pattern, `${path}.pattern`),
        expectString(j.content, `${path}.content`),
        `${path}.pattern (decoder Replace pattern)`,
      );
    case "Sequence": {
      if (!Array.isArray(j.decoders)) throw new TokenizerError(`${path}.decoders: expected an array, found ${describe(j.decoders)}`);
      return new SequenceDecoder(j.decoders.map((d, i) => decoderFromJSON(d, `${path}.decoders[${i}]`, depth + 1)!).filter(Boolean));
    }
    default:
      throw new TokenizerError(
        `${path}.type: unsupported decoder ${describe(j.type)}; supported: ByteLevel, ByteFallback, Metaspace, Fuse, Strip, Replace, Sequence`,
      );
  }
}
