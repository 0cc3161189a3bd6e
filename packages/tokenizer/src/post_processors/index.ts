import { MAX_TOKEN_ID, TokenizerError, checkNesting, describe } from "../utils/errors.js";
import type { PostProcessor } from "./post_processor.js";
import { TemplateProcessing } from "./template.js";
import { ByteLevelPostProcessor, ClsSepPostProcessor, SequencePostProcessor } from "./simple.js";

export type { PostProcessor } from "./post_processor.js";
export { TemplateProcessing, ByteLevelPostProcessor, ClsSepPostProcessor, SequencePostProcessor };

function pairOf(v: unknown, path: string): [string, number] {
  if (!Array.isArray(v) || v.length !== 2 || typeof v[0] !== "string" || !Number.isInteger(v[1]) || v[1] < 0 || v[1] > MAX_TOKEN_ID)
    throw new TokenizerError(`${path}: expected [token, id] with an id in [0, ${MAX_TOKEN_ID}], found ${describe(v)}`);
  return [v[0], v[1]];
}

/** Builds a post-processor from its tokenizer.json form; `path` names it in errors. */
export function postProcessorFromJSON(json: unknown, path = "post_processor", depth = 0): PostProcessor | null {
  if (json === null || json === undefined) return null;
  checkNesting(path, depth);
  if (typeof json !== "object") throw new TokenizerError(`${path}: expected an object with a "type", found ${describe(json)}`);
  const j = json as Record<string, unknown>;
  switch (j.type) {
    case "TemplateProcessing":
      if (!Array.isArray(j.single)) throw new TokenizerError(`${path}.single: expected an array, found ${describe(j.single)}`);
      return new TemplateProcessing(
        j.single as never,
        (Array.isArray(j.pair) ? j.pair : j.single) as never,
        (j.special_tokens ?? {}) as never,
        path,
      );
    case "ByteLevel":
      return new ByteLevelPostProcessor(j);
    case "BertProcessing":
    case "RobertaProcessing":
      return new ClsSepPostProcessor(j.type, pairOf(j.cls, `${path}.cls`), pairOf(j.sep, `${path}.sep`), j);
    case "Sequence":
      if (!Array.isArray(j.processors)) throw new TokenizerError(`${path}.processors: expected an array, found ${describe(j.processors)}`);
      return new SequencePostProcessor(
        j.processors.map((p, i) => postProcessorFromJSON(p, `${path}.processors[${i}]`, depth + 1)!).filter(Boolean),
      );
    default:
      throw new TokenizerError(
        `${path}.type: unsupported post-processor ${describe(j.type)}; supported: TemplateProcessing, ByteLevel, BertProcessing, RobertaProcessing, Sequence`,
      );
  }
}
