/**
 * Node helpers that read tokenizer files from disk (`@llm/tokenizer/node`). The main entry has
 * no `fs` so it runs in browsers; these only add the reading.
 */
import { readFileSync } from "node:fs";
import { TokenizerError } from "./utils/errors.js";
import { fromTokenizerJson } from "./serialization/tokenizer_json.js";
import { fromGpt2Files } from "./serialization/gpt2.js";
import { fromTiktoken, fromTiktokenJson, type TiktokenOptions } from "./serialization/tiktoken.js";
import type { Tokenizer } from "./tokenizer.js";

function readBytes(path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new TokenizerError(`${path}: cannot read the file: ${(e as Error).message}`);
  }
}

function read(path: string): string {
  return readBytes(path).toString("utf8");
}

/** Loads a Hugging Face tokenizer.json file (read as bytes: decoding them to a string first is slower than the whole load). */
export function loadTokenizerJson(path: string): Tokenizer {
  return fromTokenizerJson(readBytes(path), path);
}

/** Loads GPT-2's vocab.json (encoder.json) and merges.txt (vocab.bpe). */
export function loadGpt2Files(vocabPath: string, mergesPath: string): Tokenizer {
  return fromGpt2Files(read(vocabPath), read(mergesPath));
}

/** Loads a `.tiktoken` rank file; give its pattern and special tokens (TIKTOKEN_PATTERNS has OpenAI's). */
export function loadTiktokenFile(path: string, options: Omit<TiktokenOptions, "source">): Tokenizer {
  return fromTiktoken(read(path), { ...options, source: path });
}

/** Loads an encoder JSON of the npm `tiktoken` package (tiktoken/encoders/*.json). */
export function loadTiktokenJson(path: string): Tokenizer {
  return fromTiktokenJson(read(path), path);
}

/** Writes nothing itself: `JSON.stringify(tokenizer.toJSON())` is the tokenizer.json text to save. */
export type { Tokenizer };
