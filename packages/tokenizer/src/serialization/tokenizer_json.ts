import { MAX_TOKEN_ID, TokenizerError, describe } from "../utils/errors.js";
import { BPEModel } from "../models/bpe.js";
import { MergeTable } from "../models/merge_table.js";
import { normalizerFromJSON } from "../normalizers/index.js";
import { preTokenizerFromJSON, flattenPreTokenizers } from "../pre_tokenizers/index.js";
import { postProcessorFromJSON } from "../post_processors/index.js";
import { decoderFromJSON } from "../decoders/index.js";
import { Tokenizer } from "../tokenizer.js";
import type { AddedToken } from "../added_vocabulary.js";
import { expectBoolean, expectObject } from "./expect.js";
import { VocabTable } from "../models/vocab_table.js";
import { readTokenizerJsonFast, type FastModelData } from "./fast_json.js";
import { isWellFormed, utf8Text } from "../utils/utf8_text.js";

/** Parses JSON text, naming the file on failure. */
export function parseJSON(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new TokenizerError(`${file}: malformed JSON: ${(e as Error).message}`);
  }
}

/**
 * Builds the vocab table from parallel lists. Ids must be unique, and 0..n-1 without
 * gaps, except that tokens with ids past the dense range may be added tokens (files converted
 * from tiktoken list special tokens in the vocab at their tiktoken ids, leaving unused ids).
 */
export function buildVocab(tokens: string[], ids: number[], addedIds: Set<number>, path: string): VocabTable {
  const n = tokens.length;
  // ids past the count may be added tokens just past the vocab, not anywhere up to 2^31
  const limit = maxDenseId(n);
  for (let k = 0; k < n; k++) {
    const id = ids[k]!;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id > MAX_TOKEN_ID)
      throw new TokenizerError(`${path}[${describe(tokens[k])}]: expected an integer id in [0, ${MAX_TOKEN_ID}], found ${describe(id)}`);
    if (id >= n && !addedIds.has(id))
      throw new TokenizerError(
        `${path}: expected ids 0..${n - 1} without gaps for ${n} tokens, found id ${id} for token ${describe(tokens[k])} (so some id below it is missing)`,
      );
    if (id > limit)
      throw new TokenizerError(
        `${path}: id ${id} of added token ${describe(tokens[k])} lies ${id - n} ids past the ${n} tokens; expected added tokens in the vocab at ids up to ${limit}`,
      );
  }
  let max = -1;
  for (let k = 0; k < n; k++) if (ids[k]! > max) max = ids[k]!;
  const vocab: (string | undefined)[] = new Array(max + 1);
  for (let k = 0; k < n; k++) {
    const id = ids[k]!;
    const token = tokens[k]!;
    if (vocab[id] !== undefined)
      throw new TokenizerError(`${path}: duplicate id ${id}, used by ${describe(vocab[id])} and ${describe(token)}`);
    vocab[id] = token;
  }
  return VocabTable.fromTokens(vocab, (id) => {
    throw new TokenizerError(`${path}: token ${describe(vocab[id])} appears twice`);
  });
}

/** The largest id a vocab of n tokens may hold (added tokens a little past the count, as tiktoken conversions put them). */
export function maxDenseId(n: number): number {
  return Math.min(MAX_TOKEN_ID, 2 * n + 1024);
}

/** The gap rule of buildVocab for a vocab read elsewhere (duplicates already rejected). */
function checkIds(ids: ArrayLike<number>, vocab: VocabTable, addedIds: Set<number>, path: string): void {
  const n = ids.length;
  for (let k = 0; k < n; k++) {
    const id = ids[k]!;
    if (id >= n && !addedIds.has(id))
      throw new TokenizerError(
        `${path}: expected ids 0..${n - 1} without gaps for ${n} tokens, found id ${id} for token ${describe(vocab.token(id))} (so some id below it is missing)`,
      );
  }
}

/** Reads a vocab object (token -> id); see buildVocab for the rules. */
export function readVocab(vocabJson: unknown, addedIds: Set<number>, path: string): VocabTable {
  const obj = expectObject(vocabJson, path);
  const tokens = Object.keys(obj);
  return buildVocab(
    tokens,
    tokens.map((t) => obj[t] as number),
    addedIds,
    path,
  );
}

/** Builds the merge table from tokenizer.json merges ("a b" strings or [a, b] pairs). */
export function readMerges(merges: unknown, tokenToId: VocabTable, path: string): MergeTable {
  if (!Array.isArray(merges)) throw new TokenizerError(`${path}: expected an array of merges, found ${describe(merges)}`);
  const pairs = new MergeTable(tokenToId, merges.length);
  for (let r = 0; r < merges.length; r++) {
    const m = merges[r];
    let a: string;
    let b: string;
    if (typeof m === "string") {
      const i = m.indexOf(" ");
      if (i < 0 || m.indexOf(" ", i + 1) >= 0)
        throw new TokenizerError(`${path}[${r}]: expected two tokens separated by one space, found ${JSON.stringify(m)}`);
      a = m.slice(0, i);
      b = m.slice(i + 1);
    } else if (Array.isArray(m) && m.length === 2 && typeof m[0] === "string" && typeof m[1] === "string") {
      a = m[0];
      b = m[1];
    } else {
      throw new TokenizerError(`${path}[${r}]: expected "a b" or ["a", "b"], found ${describe(m)}`);
    }
    const ia = tokenToId.get(a);
    if (ia === undefined)
      throw new TokenizerError(`${path}[${r}]: token ${JSON.stringify(a)} of merge ${JSON.stringify(`${a} ${b}`)} is not in the vocab`);
    const ib = tokenToId.get(b);
    if (ib === undefined)
      throw new TokenizerError(`${path}[${r}]: token ${JSON.stringify(b)} of merge ${JSON.stringify(`${a} ${b}`)} is not in the vocab`);
    const im = tokenToId.get(a + b);
    if (im === undefined)
      throw new TokenizerError(
        `${path}[${r}]: the merged token ${JSON.stringify(a + b)} of merge ${JSON.stringify(`${a} ${b}`)} is not in the vocab`,
      );
    pairs.add(ia, ib, im);
  }
  return pairs.done();
}

function readAddedTokens(json: unknown, path: string): AddedToken[] {
  if (json === undefined || json === null) return [];
  if (!Array.isArray(json)) throw new TokenizerError(`${path}: expected an array, found ${describe(json)}`);
  return json.map((t, i) => {
    const o = expectObject(t, `${path}[${i}]`);
    if (typeof o.id !== "number" || !Number.isInteger(o.id) || o.id < 0 || o.id > MAX_TOKEN_ID)
      throw new TokenizerError(`${path}[${i}].id: expected an integer in [0, ${MAX_TOKEN_ID}], found ${describe(o.id)}`);
    if (typeof o.content !== "string" || o.content.length === 0)
      throw new TokenizerError(`${path}[${i}].content: expected a non-empty string, found ${describe(o.content)}`);
    const special = expectBoolean(o.special, `${path}[${i}].special`, false);
    return {
      id: o.id,
      content: o.content,
      special,
      normalized: expectBoolean(o.normalized, `${path}[${i}].normalized`, !special),
      lstrip: expectBoolean(o.lstrip, `${path}[${i}].lstrip`, false),
      rstrip: expectBoolean(o.rstrip, `${path}[${i}].rstrip`, false),
      singleWord: expectBoolean(o.single_word, `${path}[${i}].single_word`, false),
    };
  });
}

const utf8Encoder = new TextEncoder();

/** Runs fn; a TokenizerError it throws that does not name the file yet gets the file's name in front. */
function namingTheFile<T>(file: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof TokenizerError && !error.message.startsWith(`${file}:`)) throw new TokenizerError(`${file}: ${error.message}`);
    throw error;
  }
}

/** The parsed file, and the vocab and merges when the fast reader read them. */
function readInput(json: unknown, file: string): { root: unknown; fast: FastModelData | null } {
  let bytes: Uint8Array | null = null;
  if (typeof json === "string") {
    // the fast reader reads UTF-8; a string with a lone surrogate has none, so JSON.parse reads it
    if (isWellFormed(json)) bytes = utf8Encoder.encode(json);
  } else if (ArrayBuffer.isView(json)) bytes = new Uint8Array(json.buffer, json.byteOffset, json.byteLength);
  else if (Object.prototype.toString.call(json) === "[object ArrayBuffer]") bytes = new Uint8Array(json as ArrayBuffer);
  else return { root: json, fast: null };
  let r: ReturnType<typeof readTokenizerJsonFast> = null;
  try {
    r = bytes === null ? null : readTokenizerJsonFast(bytes, file);
  } catch (error) {
    // the fast reader stops at the first bad vocab entry; a file that is not even JSON is reported as such
    if (error instanceof TokenizerError) parseJSON(typeof json === "string" ? json.replace(/^\ufeff/, "") : utf8Text(bytes!, file), file);
    throw error;
  }
  if (r) return { root: r.root, fast: r.data };
  // a byte order mark may lead the text, as the fast reader allows
  const text = typeof json === "string" ? json.replace(/^\ufeff/, "") : utf8Text(bytes!, file);
  return { root: parseJSON(text, file), fast: null };
}

/**
 * Loads a Hugging Face tokenizer.json: the file's bytes (a Uint8Array or ArrayBuffer of UTF-8,
 * as read from disk or a fetch response: the fastest), its text, or the parsed object.
 * Everything in it that this package does not implement is an error naming the key, never a
 * silently different encoding.
 */
export function fromTokenizerJson(json: string | Uint8Array | ArrayBuffer | ArrayBufferView | object, file = "tokenizer.json"): Tokenizer {
  const { root: parsed, fast } = readInput(json, file);
  const root = expectObject(parsed, file);
  const model = expectObject(root.model, `${file}: model`);
  // a null type counts as absent, as everywhere in the file; the fast reader has taken the merges out of `model`
  const mtype = model.type ?? (fast !== null || model.merges !== undefined ? "BPE" : undefined);
  if (mtype !== "BPE") throw new TokenizerError(`${file}: model.type: unsupported model ${describe(mtype)}; supported: BPE`);
  if (model.dropout !== undefined && model.dropout !== null && model.dropout !== 0)
    throw new TokenizerError(
      `${file}: model.dropout: BPE dropout is not supported (it makes encoding random); expected null, found ${describe(model.dropout)}`,
    );
  for (const key of ["continuing_subword_prefix", "end_of_word_suffix"] as const) {
    const v = model[key];
    if (v !== undefined && v !== null && v !== "")
      throw new TokenizerError(`${file}: model.${key}: not supported; expected null or "", found ${describe(v)}`);
  }
  for (const key of ["truncation", "padding"] as const) {
    if (root[key] !== undefined && root[key] !== null)
      throw new TokenizerError(
        `${file}: ${key}: not supported (pad or truncate the ids yourself); expected null, found ${describe(root[key])}`,
      );
  }
  const addedTokens = readAddedTokens(root.added_tokens, `${file}: added_tokens`);
  const addedIds = new Set(addedTokens.map((t) => t.id));
  // ids written in order 0..n-1 have no gaps to check
  if (fast?.ids) checkIds(fast.ids, fast.vocab, addedIds, `${file}: model.vocab`);
  const vocab = fast ? fast.vocab : readVocab(model.vocab, addedIds, `${file}: model.vocab`);
  const pairs = fast ? fast.pairs : readMerges(model.merges, vocab, `${file}: model.merges`);
  const preTokenizer = preTokenizerFromJSON(root.pre_tokenizer, `${file}: pre_tokenizer`);
  const flat = flattenPreTokenizers(preTokenizer);
  const byteLevel = flat.length > 0 && flat[flat.length - 1]!.byteLevel === true;
  const unk = model.unk_token;
  if (unk !== undefined && unk !== null && typeof unk !== "string")
    throw new TokenizerError(`${file}: model.unk_token: expected a string or null, found ${describe(unk)}`);
  // the parts below name keys, not the file: their messages get its name
  return namingTheFile(file, () => {
    const bpe = new BPEModel({
      vocab,
      pairs,
      merges: fast ? null : (model.merges as string[]),
      byteLevel,
      ignoreMerges: expectBoolean(model.ignore_merges, `${file}: model.ignore_merges`, false),
      byteFallback: expectBoolean(model.byte_fallback, `${file}: model.byte_fallback`, false),
      unkToken: (unk as string | null | undefined) ?? null,
      fuseUnk: expectBoolean(model.fuse_unk, `${file}: model.fuse_unk`, false),
    });
    return new Tokenizer({
      model: bpe,
      normalizer: normalizerFromJSON(root.normalizer, `${file}: normalizer`),
      preTokenizer,
      postProcessor: postProcessorFromJSON(root.post_processor, `${file}: post_processor`),
      decoder: decoderFromJSON(root.decoder, `${file}: decoder`),
      addedTokens,
    });
  });
}
