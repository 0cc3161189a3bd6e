import { TokenizerError } from "../../errors.js";
import { HASH_P, VocabTable } from "../../models/vocab_table.js";
import { endOfString, fallback, grow, skipWs } from "./scan.js";

export interface ScannedVocab {
  /** index just past the vocab object */
  end: number;
  /** the ids in file order (for the caller's gap check) */
  ids: Int32Array;
  table: VocabTable;
}

/** Where each "token": id of the vocab object sits in the text (count entries). */
interface Entries {
  end: number;
  count: number;
  starts: Int32Array;
  ends: Int32Array;
  ids: Int32Array;
  /** VocabTable.hashSpan of each token, taken on the way */
  hashes: Int32Array;
  /** entry -> token, for the rare tokens written with escapes */
  escaped: Map<number, string>;
}

/**
 * Reads model.vocab, the object at `start`, without making an object or a string per token: one
 * tight loop records where each "token": id sits in the text, then the tokens are copied in id
 * order into the one string a VocabTable keeps. Duplicate ids and tokens are errors; anything
 * unusual (ids that are not plain integers, or far past the count) falls back to JSON.parse.
 */
export function scanVocab(text: string, start: number, file: string): ScannedVocab {
  const entries = scanEntries(text, start);
  return { end: entries.end, ids: entries.ids.subarray(0, entries.count), table: buildTable(text, entries, file) };
}

function scanEntries(text: string, start: number): Entries {
  const n = text.length;
  // room for the usual vocab sizes up front: growing mid-loop throws away the compiled loop,
  // and untouched pages of a typed array cost nothing
  const room = 1 << 18;
  let starts = new Int32Array(room);
  let ends = new Int32Array(room);
  let ids = new Int32Array(room);
  let hashes = new Int32Array(room);
  const escaped = new Map<number, string>();
  let count = 0;
  let i = skipWs(text, start + 1);
  if (text.charCodeAt(i) === 125) return { end: i + 1, count, starts, ends, ids, hashes, escaped };
  for (;;) {
    if (text.charCodeAt(i) !== 34) fallback();
    let j = i + 1;
    let c = text.charCodeAt(j);
    let h = 0;
    while (c !== 34 && c !== 92 && j < n) {
      h = (Math.imul(h, HASH_P) + c) | 0;
      c = text.charCodeAt(++j);
    }
    if (j >= n) fallback();
    if (count === ids.length) {
      starts = grow(starts);
      ends = grow(ends);
      ids = grow(ids);
      hashes = grow(hashes);
    }
    if (c === 92) {
      j = endOfString(text, i);
      const token = JSON.parse(text.slice(i, j + 1)) as string;
      escaped.set(count, token);
      h = VocabTable.hashSpan(token, 0, token.length);
    }
    hashes[count] = h;
    starts[count] = i + 1;
    ends[count] = j;
    c = text.charCodeAt(++j);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++j);
    if (c !== 58) fallback();
    c = text.charCodeAt(++j);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++j);
    const v = j;
    let id = 0;
    while (c >= 48 && c <= 57) {
      id = id * 10 + (c - 48);
      c = text.charCodeAt(++j);
    }
    // not a plain non-negative integer, or too large for an id: the general path reports it
    if (j === v || j - v > 9 || c === 46 || c === 101 || c === 69) fallback();
    ids[count++] = id;
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++j);
    if (c === 125) return { end: j + 1, count, starts, ends, ids, hashes, escaped };
    if (c !== 44) fallback();
    c = text.charCodeAt(++j);
    while (c === 32 || c === 10 || c === 13 || c === 9) c = text.charCodeAt(++j);
    i = j;
  }
}

function buildTable(text: string, entries: Entries, file: string): VocabTable {
  const { count, starts, ends, ids, hashes, escaped } = entries;
  let nIds = 0;
  for (let k = 0; k < count; k++) if (ids[k]! >= nIds) nIds = ids[k]! + 1;
  // ids far past the count break the gap rule; the general path says which
  if (nIds > 2 * count + 1024) fallback();
  const tokenOf = (k: number): string => escaped.get(k) ?? text.slice(starts[k], ends[k]);
  const entryOfId = new Int32Array(nIds).fill(-1);
  for (let k = 0; k < count; k++) {
    const id = ids[k]!;
    const earlier = entryOfId[id]!;
    if (earlier >= 0) throw new TokenizerError(`${file}: model.vocab: duplicate id ${id}, used by ${JSON.stringify(tokenOf(earlier))} and ${JSON.stringify(tokenOf(k))}`);
    entryOfId[id] = k;
  }
  // escaped tokens are rare: their spans are marked -1 and their text comes from the map
  for (const k of escaped.keys()) starts[k] = -1;
  const offsets = new Int32Array(nIds + 1);
  const present = new Uint8Array(nIds);
  const hashOfId = new Int32Array(nIds);
  let total = 0;
  for (let id = 0; id < nIds; id++) {
    offsets[id] = total;
    const k = entryOfId[id]!;
    if (k < 0) continue;
    present[id] = 1;
    hashOfId[id] = hashes[k]!;
    total += starts[k]! >= 0 ? ends[k]! - starts[k]! : escaped.get(k)!.length;
  }
  offsets[nIds] = total;
  const pool = stringFromCharCodes(copyTokens(text, entries, entryOfId, offsets));
  return new VocabTable(pool, offsets, present, hashOfId, (id) => {
    throw new TokenizerError(`${file}: model.vocab: token ${JSON.stringify(pool.slice(offsets[id], offsets[id + 1]))} appears twice`);
  });
}

/** The characters of every token, in id order. */
function copyTokens(text: string, entries: Entries, entryOfId: Int32Array, offsets: Int32Array): Uint16Array {
  const { starts, ends, escaped } = entries;
  const chars = new Uint16Array(offsets[offsets.length - 1]!);
  for (let id = 0; id < entryOfId.length; id++) {
    const k = entryOfId[id]!;
    if (k < 0) continue;
    let o = offsets[id]!;
    const s = starts[k]!;
    if (s >= 0) for (let j = s, e = ends[k]!; j < e; j++) chars[o++] = text.charCodeAt(j);
    else {
      const t = escaped.get(k)!;
      for (let j = 0; j < t.length; j++) chars[o++] = t.charCodeAt(j);
    }
  }
  return chars;
}

/**
 * The string of UTF-16 code units. TextDecoder is the fast way, but it would replace a lone
 * surrogate (which a JSON \u escape can write) with U+FFFD, so those take the slow way.
 */
function stringFromCharCodes(chars: Uint16Array): string {
  let lone = false;
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c < 0xd800 || c > 0xdfff) continue;
    if (c <= 0xdbff && i + 1 < chars.length && chars[i + 1]! >= 0xdc00 && chars[i + 1]! <= 0xdfff) i++;
    else {
      lone = true;
      break;
    }
  }
  if (!lone && typeof TextDecoder === "function") return new TextDecoder("utf-16le").decode(chars);
  // in chunks: spreading a large array overflows the stack
  const parts: string[] = [];
  for (let i = 0; i < chars.length; i += 8192) parts.push(String.fromCharCode.apply(null, chars.subarray(i, i + 8192) as unknown as number[]));
  return parts.join("");
}
