import type { VocabTable } from "../models/vocab_table.js";
import type { MergeTable } from "../models/merge_table.js";
import { Fallback, fallback, jsonAt, skipValue, skipWs, walkObject } from "./json/scan.js";
import { scanVocab, type ScannedVocab } from "./json/vocab.js";
import { scanMerges } from "./json/merges.js";

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
  const root: Record<string, unknown> = {};
  // a byte order mark may lead the file
  const first = b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf ? 3 : 0;
  const end = walkObject(b, skipWs(b, first), (key, v) => {
    if (key === "model" && b[v] === 123) {
      // a repeated key means the last one counts (as in JSON.parse): the general path handles that
      if (root.model !== undefined) fallback();
      const model: Record<string, unknown> = {};
      root.model = model;
      return walkObject(b, v, (mkey, mv) => {
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
    }
    const e = skipValue(b, v);
    root[key] = jsonAt(b, v, e);
    return e;
  });
  // not the usual shape (a repeated key, something after the object, no vocab or merges): let the general path read it
  if (skipWs(b, end) !== b.length || vocab === null || (pairs === null && mergesAt < 0)) return fallback();
  const { ids, table } = vocab as ScannedVocab;
  return { root, data: { ids, vocab: table, pairs: pairs ?? scanMerges(b, mergesAt, file, table).pairs } };
}
