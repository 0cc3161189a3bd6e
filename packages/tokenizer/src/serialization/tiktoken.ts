import { MAX_TOKEN_ID, TokenizerError, describe } from "../utils/errors.js";
import { BPEModel } from "../models/bpe.js";
import { PairTable } from "../models/pair_table.js";
import { VocabTable } from "../models/vocab_table.js";
import { BYTE_TO_CHAR } from "../utils/byte_level.js";
import { SplitPreTokenizer, ByteLevelPreTokenizer, SequencePreTokenizer } from "../pre_tokenizers/index.js";
import { ByteLevelDecoder } from "../decoders/index.js";
import { Tokenizer } from "../tokenizer.js";
import { parseJSON } from "./tokenizer_json.js";

/** The regex patterns of OpenAI's encodings. */
export const TIKTOKEN_PATTERNS = {
  r50k_base: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  p50k_base: "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
  cl100k_base:
    "'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+",
  o200k_base: [
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]*[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "[^\\r\\n\\p{L}\\p{N}]?[\\p{Lu}\\p{Lt}\\p{Lm}\\p{Lo}\\p{M}]+[\\p{Ll}\\p{Lm}\\p{Lo}\\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?",
    "\\p{N}{1,3}",
    " ?[^\\s\\p{L}\\p{N}]+[\\r\\n/]*",
    "\\s*[\\r\\n]+",
    "\\s+(?!\\S)",
    "\\s+",
  ].join("|"),
} as const;

/** The special tokens of OpenAI's encodings. */
export const TIKTOKEN_SPECIAL_TOKENS: Record<keyof typeof TIKTOKEN_PATTERNS, Record<string, number>> = {
  r50k_base: { "<|endoftext|>": 50256 },
  p50k_base: { "<|endoftext|>": 50256 },
  cl100k_base: {
    "<|endoftext|>": 100257,
    "<|fim_prefix|>": 100258,
    "<|fim_middle|>": 100259,
    "<|fim_suffix|>": 100260,
    "<|endofprompt|>": 100276,
  },
  o200k_base: { "<|endoftext|>": 199999, "<|endofprompt|>": 200018 },
};

export interface TiktokenOptions {
  /** the pre-tokenization regex (tiktoken's `pat_str`) */
  pattern: string;
  /** special token -> id */
  specialTokens?: Record<string, number>;
  /** name for error messages */
  source?: string;
}

function base64ToByteLevel(b64: string, where: string): string {
  let bin: string;
  try {
    bin = atob(b64);
  } catch {
    throw new TokenizerError(`${where}: expected a base64 token, found ${describe(b64)}`);
  }
  let s = "";
  for (let i = 0; i < bin.length; i++) s += BYTE_TO_CHAR[bin.charCodeAt(i)];
  return s;
}

/**
 * Parses a tiktoken rank file (`.tiktoken`: one "base64-token rank" per line) into tokens by
 * rank, written with GPT-2's byte-to-character map.
 */
export function parseTiktokenRanks(text: string, source = "tiktoken ranks"): string[] {
  if (typeof text !== "string") throw new TokenizerError(`${source}: expected the file's text, found ${describe(text)}`);
  const tokens: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line.length === 0) continue;
    const sp = line.indexOf(" ");
    const rank = sp < 0 ? NaN : Number(line.slice(sp + 1));
    if (sp < 0 || !Number.isInteger(rank) || rank < 0 || rank > MAX_TOKEN_ID)
      throw new TokenizerError(`${source} line ${i + 1}: expected "<base64 token> <rank>", found ${JSON.stringify(line.slice(0, 60))}`);
    if (tokens[rank] !== undefined) throw new TokenizerError(`${source} line ${i + 1}: duplicate rank ${rank}`);
    tokens[rank] = base64ToByteLevel(line.slice(0, sp), `${source} line ${i + 1}`);
  }
  return tokens;
}

/**
 * Parses the compact rank format of the npm packages `tiktoken` (encoders/*.json) and
 * `js-tiktoken` (ranks/*): lines of "prefix firstRank token token ..." with base64 tokens.
 */
export function parseTiktokenCompactRanks(text: string, source = "bpe_ranks"): string[] {
  if (typeof text !== "string") throw new TokenizerError(`${source}: expected the file's text, found ${describe(text)}`);
  const tokens: string[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line.length === 0) continue;
    const parts = line.split(" ");
    const offset = Number(parts[1]);
    if (parts.length < 2 || !Number.isInteger(offset) || offset < 0 || offset + parts.length - 2 > MAX_TOKEN_ID)
      throw new TokenizerError(`${source} line ${i + 1}: expected "prefix rank token...", found ${JSON.stringify(line.slice(0, 60))}`);
    for (let k = 2; k < parts.length; k++) {
      const rank = offset + k - 2;
      if (tokens[rank] !== undefined) throw new TokenizerError(`${source} line ${i + 1}: duplicate rank ${rank}`);
      tokens[rank] = base64ToByteLevel(parts[k]!, `${source} line ${i + 1}`);
    }
  }
  return tokens;
}

/**
 * Builds a tokenizer from tiktoken ranks (tokens by rank). tiktoken merges the adjacent pair
 * whose concatenation has the lowest rank, so every split of every token into two tokens
 * becomes a merge of that rank; a piece that is itself a token is not merged.
 */
export function fromTiktokenTokens(tokens: string[], options: TiktokenOptions): Tokenizer {
  if (typeof options !== "object" || options === null)
    throw new TokenizerError(`tiktoken: options must be { pattern, specialTokens? }, found ${describe(options)}`);
  const source = options.source ?? "tiktoken";
  if (!Array.isArray(tokens)) throw new TokenizerError(`${source}: expected the tokens by rank (an array), found ${describe(tokens)}`);
  if (options.specialTokens !== undefined && (typeof options.specialTokens !== "object" || options.specialTokens === null))
    throw new TokenizerError(
      `${source}: options.specialTokens: expected an object of token -> id, found ${describe(options.specialTokens)}`,
    );
  if (typeof options.pattern !== "string")
    throw new TokenizerError(`${source}: options.pattern: expected the regex string, found ${describe(options.pattern)}`);
  const n = tokens.length;
  const specials = options.specialTokens ?? {};
  const specialIds = new Set(Object.values(specials));
  for (let r = 0; r < n; r++) {
    // ranks skip the ids of special tokens (p50k_base's <|endoftext|> sits at 50256 among them)
    if (tokens[r] === undefined && !specialIds.has(r))
      throw new TokenizerError(`${source}: expected ranks 0..${n - 1} without gaps except at special-token ids, rank ${r} is missing`);
  }
  const tokenToId = VocabTable.fromTokens(tokens, (r, prev) => {
    throw new TokenizerError(`${source}: token at rank ${r} repeats rank ${prev}`);
  });
  const pairs = new PairTable(n * 2);
  for (let r = 0; r < n; r++) {
    const t = tokens[r];
    if (t === undefined) continue;
    const len = t.length;
    for (let k = 1; k < len; k++) {
      const a = tokenToId.getSpan(t, 0, k);
      if (a === undefined) continue;
      const b = tokenToId.getSpan(t, k, len);
      if (b !== undefined) pairs.set(a, b, r, r);
    }
  }
  const model = new BPEModel({ vocab: tokenToId, pairs, merges: null, byteLevel: true, ignoreMerges: true });
  return new Tokenizer({
    model,
    preTokenizer: new SequencePreTokenizer([
      new SplitPreTokenizer({ Regex: options.pattern }, "Isolated", false, "unicode"),
      new ByteLevelPreTokenizer(false, false, false),
    ]),
    decoder: new ByteLevelDecoder(),
    addedTokens: Object.entries(specials).map(([content, id]) => {
      if (!Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID)
        throw new TokenizerError(
          `${source}: special token ${describe(content)}: expected an integer id in [0, ${MAX_TOKEN_ID}], found ${describe(id)}`,
        );
      return { id, content, special: true, normalized: false, lstrip: false, rstrip: false, singleWord: false };
    }),
  });
}

/** Loads a `.tiktoken` rank file with its pattern and special tokens. */
export function fromTiktoken(ranks: string, options: TiktokenOptions): Tokenizer {
  if (typeof options !== "object" || options === null)
    throw new TokenizerError(`tiktoken: options must be { pattern, specialTokens? }, found ${describe(options)}`);
  return fromTiktokenTokens(parseTiktokenRanks(ranks, options.source), options);
}

/**
 * Loads the JSON the npm package `tiktoken` ships in `tiktoken/encoders/*.json`
 * ({pat_str, special_tokens, bpe_ranks}); js-tiktoken's ranks have the same fields.
 */
export function fromTiktokenJson(json: string | object, source = "tiktoken encoder JSON"): Tokenizer {
  const o = (typeof json === "string" ? parseJSON(json, source) : json) as Record<string, unknown>;
  if (o === null || typeof o !== "object" || Array.isArray(o))
    throw new TokenizerError(`${source}: expected an object, found ${describe(o)}`);
  if (typeof o.pat_str !== "string")
    throw new TokenizerError(`${source}: pat_str: expected the regex string, found ${describe(o.pat_str)}`);
  if (typeof o.bpe_ranks !== "string") throw new TokenizerError(`${source}: bpe_ranks: expected a string, found ${describe(o.bpe_ranks)}`);
  const tokens = parseTiktokenCompactRanks(o.bpe_ranks, `${source}: bpe_ranks`);
  return fromTiktokenTokens(tokens, { pattern: o.pat_str, specialTokens: (o.special_tokens ?? {}) as Record<string, number>, source });
}
