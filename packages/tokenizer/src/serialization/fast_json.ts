import type { VocabTable } from "../models/vocab_table.js";
import type { MergeTable } from "../models/merge_table.js";
import { endOfString, Fallback, fallback, jsonAt, parseOrFallback, skipValue, skipWs, textAt, walkObject } from "./fast_json/scan.js";
import { scanVocab, type ScannedVocab } from "./fast_json/vocab.js";
import { scanMerges } from "./fast_json/merges.js";

/** What the fast reader pulls out of tokenizer.json besides the small parts. */
export interface FastModelData {
  /** vocab ids in file order (for the caller's gap check); null when they are 0, 1, 2, ... */
  ids: Int32Array | null;
  /** the vocab, duplicate ids and tokens already rejected */
  vocab: VocabTable;
  /** the merge table */
  pairs: MergeTable;
}

/**
 * Reads tokenizer.json from its UTF-8 bytes without materialising the big model.vocab object
 * and model.merges array: the vocab goes straight from the bytes into a VocabTable, and merges
 * are resolved to id pairs as they are decoded. Everything else is JSON.parse'd piece by piece.
 * Returns null when the bytes are not shaped as expected (the caller then uses the general
 * reader, which also gives the standard message for malformed JSON or bytes that are not UTF-8).
 */
export function readTokenizerJsonFast(bytes: Uint8Array, file: string): { root: Record<string, unknown>; data: FastModelData } | null {
  try {
    return read(bytes, file);
  } catch (e) {
    if (e instanceof Fallback) return null;
    throw e;
  }
}

function read(b: Uint8Array, file: string): { root: Record<string, unknown>; data: FastModelData } {
  let vocab: ScannedVocab | null = null;
  let pairs: MergeTable | null = null;
  // where model.merges starts when it comes before the vocab (read once the vocab is known)
  let mergesAt = -1;
  // a byte order mark may lead the file
  const open = skipWs(b, b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0);
  const close = lastNonWs(b);
  if (b[open] !== 123 || b[close] !== 125) fallback();
  // Only the model object is walked here. What comes before it (added_tokens, the normalizer
  // and so on; Hugging Face writes the model last) and after it is small, and JSON.parse reads
  // it whole: a loop of ours over it would be one more loop for V8 to compile while the vocab
  // waits for its own.
  const { before, value } = beforeModel(b, open);
  if (b[value] !== 123) fallback();
  const model: Record<string, unknown> = {};
  const modelEnd = walkObject(b, value, (mkey, mv) => {
    if (mkey === "vocab" && b[mv] === 123) {
      if (vocab) fallback();
      vocab = scanVocab(b, mv, file);
      return vocab.end;
    }
    if (mkey === "merges" && b[mv] === 91) {
      if (pairs || mergesAt >= 0) fallback();
      if (vocab === null) {
        mergesAt = mv;
        return skipValue(b, mv);
      }
      const m = scanMerges(b, mv, file, (vocab as ScannedVocab).table);
      pairs = m.pairs;
      return m.end;
    }
    const e = skipValue(b, mv);
    model[mkey] = jsonAt(b, mv, e);
    return e;
  });
  const next = skipWs(b, modelEnd);
  let after: Record<string, unknown> = {};
  if (b[next] === 44) {
    after = expectRecord(parseOrFallback(`{${textAt(b, next + 1, close + 1)}`));
    // a repeated key means the last one counts (as in JSON.parse): the general path handles that
    if (Object.hasOwn(after, "model")) fallback();
  } else if (next !== close) fallback();
  // not the usual shape (no vocab or merges): let the general path read it
  if (vocab === null || (pairs === null && mergesAt < 0)) return fallback();
  const { ids, table } = vocab as ScannedVocab;
  // spread defines keys (a "__proto__" key stays a key); those after the model win, as in JSON.parse
  const root = { ...before, ...after, model };
  return { root, data: { ids, vocab: table, pairs: pairs ?? scanMerges(b, mergesAt, file, table).pairs } };
}

/** `model` as bytes, without the quotes */
const MODEL_KEY = [109, 111, 100, 101, 108];

/**
 * The root object's keys before its "model" key, and where the model's value starts. One pass
 * over the bytes, keeping track of nesting and strings, finds the root's own "model" key (the
 * same word inside a string, a nested object or an array is not it); the text before it, closed
 * by `"model": null}`, is then parsed once. Linear in the file, however many nested objects have
 * a "model" key of their own.
 */
function beforeModel(b: Uint8Array, open: number): { before: Record<string, unknown>; value: number } {
  let depth = 0;
  // at the root, the next string is a key (after "{" or ","), not a value (after ":")
  let atKey = false;
  for (let i = open; i < b.length; i++) {
    const c = b[i]!;
    if (c === 34) {
      const e = endOfString(b, i);
      if (depth === 1 && atKey) {
        atKey = false;
        if (e - i - 1 === MODEL_KEY.length && MODEL_KEY.every((m, k) => b[i + 1 + k] === m)) {
          const colon = skipWs(b, e + 1);
          if (b[colon] !== 58) return fallback();
          const before = parseOrFallback(`${textAt(b, open, i)}"model": null}`);
          return { before: expectRecord(before), value: skipWs(b, colon + 1) };
        }
      }
      i = e;
    } else if (c === 123 || c === 91) {
      depth++;
      if (depth === 1) atKey = true;
    } else if (c === 125 || c === 93) {
      depth--;
    } else if (c === 44 && depth === 1) {
      atKey = true;
    }
  }
  return fallback();
}

function expectRecord(v: unknown): Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v) ? (v as Record<string, unknown>) : fallback();
}

/** Index of the last byte that is not JSON whitespace (-1 if none). */
function lastNonWs(b: Uint8Array): number {
  let i = b.length - 1;
  while (i >= 0 && (b[i] === 32 || b[i] === 10 || b[i] === 13 || b[i] === 9)) i--;
  return i;
}
