import type { VocabTable } from "../models/vocab_table.js";
import type { MergeTable } from "../models/merge_table.js";
import { Fallback, fallback, skipValue, skipWs, walkObject } from "./json/scan.js";
import { scanVocab, type ScannedVocab } from "./json/vocab.js";
import { resolveDeferred, scanMerges, type DeferredMerges } from "./json/merges.js";

/** What the fast reader pulls out of tokenizer.json text besides the small parts. */
export interface FastModelData {
  /** vocab ids in file order (for the caller's gap check); null when they are 0, 1, 2, ... */
  ids: Int32Array | null;
  /** the vocab, duplicate ids and tokens already rejected */
  vocab: VocabTable;
  /** the merge table */
  pairs: MergeTable;
}

/**
 * Reads tokenizer.json text without materialising the big model.vocab object and model.merges
 * array: the vocab goes straight from the text into a VocabTable, and merges are resolved to id
 * pairs by hashing spans of the text. Everything else is JSON.parse'd piece by piece. Returns
 * null when the text is not shaped as expected (the caller then uses JSON.parse, which also
 * gives the standard message for malformed JSON).
 */
export function readTokenizerJsonFast(text: string, file: string): { root: Record<string, unknown>; data: FastModelData } | null {
  try {
    return read(text, file);
  } catch (e) {
    if (e instanceof Fallback) return null;
    throw e;
  }
}

function read(text: string, file: string): { root: Record<string, unknown>; data: FastModelData } {
  let vocab: ScannedVocab | null = null;
  let pairs: MergeTable | null = null;
  let deferred: DeferredMerges | null = null;
  const root: Record<string, unknown> = {};
  const end = walkObject(text, skipWs(text, 0), (key, v) => {
    if (key === "model" && text.charCodeAt(v) === 123) {
      // a repeated key means the last one counts (as in JSON.parse): the general path handles that
      if (root.model !== undefined) fallback();
      const model: Record<string, unknown> = {};
      root.model = model;
      return walkObject(text, v, (mkey, mv) => {
        if (mkey === "vocab" && text.charCodeAt(mv) === 123) {
          if (vocab) fallback();
          vocab = scanVocab(text, mv, file);
          return vocab.end;
        }
        if (mkey === "merges" && text.charCodeAt(mv) === 91) {
          if (pairs || deferred) fallback();
          const m = scanMerges(text, mv, file, vocab ? (vocab as ScannedVocab).table : null);
          pairs = m.pairs;
          deferred = m.deferred;
          return m.end;
        }
        const e = skipValue(text, mv);
        model[mkey] = JSON.parse(text.slice(mv, e));
        return e;
      });
    }
    const e = skipValue(text, v);
    root[key] = JSON.parse(text.slice(v, e));
    return e;
  });
  // not the usual shape (a repeated key, something after the object, no vocab or merges): let the general path read it
  if (skipWs(text, end) !== text.length || vocab === null || (pairs === null && deferred === null)) return fallback();
  const { ids, table } = vocab as ScannedVocab;
  return { root, data: { ids, vocab: table, pairs: pairs ?? resolveDeferred(text, deferred!, table, file) } };
}
