import { TokenizerError } from "../../utils/errors.js";
import { VocabTable } from "../../models/vocab_table.js";
import { fallback, grow, growUnits, skipWs } from "./scan.js";
import { readToken, TOKEN } from "./token.js";

export interface ScannedVocab {
  /** index just past the vocab object */
  end: number;
  /** the ids in file order (for the caller's gap check); null when they are 0, 1, 2, ... */
  ids: Int32Array | null;
  table: VocabTable;
}

/** The "token": id entries of the vocab object, in file order (count of them). */
interface Entries {
  end: number;
  count: number;
  /** the code units of every token, one after another */
  chars: Uint16Array;
  /** token k is chars[offsets[k], offsets[k + 1]) */
  offsets: Int32Array;
  /** the id of each entry; null while entry k has id k (the usual file, written in id order) */
  ids: Int32Array | null;
  /** VocabTable.hashSpan of each token, taken on the way */
  hashes: Int32Array;
}

/**
 * Reads model.vocab, the object at `start` of the file's bytes, without making an object or a
 * string per token: one tight loop decodes each token's characters into the pool, hashing them
 * on the way, and reads its id. A vocab written in id order (the usual) is then already laid
 * out as a VocabTable keeps it; any other order is sorted by id. Duplicate ids and tokens are
 * errors; anything unusual (ids that are not plain integers, or far past the count) falls back
 * to JSON.parse.
 */
export function scanVocab(b: Uint8Array, start: number, file: string): ScannedVocab {
  const entries = scanEntries(b, start);
  const { ids } = entries;
  const table = ids === null ? tableInFileOrder(entries, file) : tableById(entries, ids, file);
  return { end: entries.end, ids: ids === null ? null : ids.subarray(0, entries.count), table };
}

function scanEntries(b: Uint8Array, start: number): Entries {
  // room for the usual vocab sizes up front: growing mid-loop throws away the compiled loop,
  // and untouched pages of a typed array cost nothing; a small file (an entry takes 5 bytes at
  // least) gets no more than it can use, as zeroing 2 MB took longer than reading it
  const room = Math.min(1 << 18, ((b.length - start) >> 2) + 1);
  let offsets = new Int32Array(room + 1);
  let ids: Int32Array | null = null;
  let hashes = new Int32Array(room);
  // the code units stay as the table's pool; a byte makes at most one, so the rest of the file
  // bounds them
  let chars = new Uint16Array(Math.min(room * 16, b.length - start + 2));
  let count = 0;
  let o = 0;
  let j = skipWs(b, start + 1);
  const done = (end: number): Entries => {
    offsets[count] = o;
    return { end, count, chars, offsets, ids, hashes };
  };
  if (b[j] === 125) return done(j + 1);
  for (;;) {
    if (b[j] !== 34) fallback();
    if (count === hashes.length) {
      offsets = grow(offsets);
      hashes = grow(hashes);
      if (ids !== null) ids = grow(ids);
    }
    offsets[count] = o;
    let e = readToken(b, j + 1, chars, o, -1);
    while (e < 0) {
      chars = growUnits(chars, TOKEN[0]!);
      e = readToken(b, j + 1, chars, o, -1);
    }
    o = TOKEN[0]!;
    hashes[count] = TOKEN[1]!;
    j = e;
    let c = b[++j];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++j];
    if (c !== 58) fallback();
    c = b[++j];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++j];
    const v = j;
    let id = 0;
    while (c! >= 48 && c! <= 57) {
      id = id * 10 + (c! - 48);
      c = b[++j];
    }
    // not a plain non-negative integer, or too large for an id: the general path reports it
    if (j === v || j - v > 9 || c === 46 || c === 101 || c === 69) fallback();
    if (id !== count && ids === null) ids = countingUpTo(count, hashes.length);
    if (ids !== null) ids[count] = id;
    count++;
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++j];
    if (c === 125) return done(j + 1);
    if (c !== 44) fallback();
    c = b[++j];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++j];
  }
}

/** ids of the first n entries when they were in order (0..n-1), with room for `room` */
function countingUpTo(n: number, room: number): Int32Array {
  const ids = new Int32Array(room);
  for (let k = 0; k < n; k++) ids[k] = k;
  return ids;
}

/** The token of entry k, for messages. */
function tokenOf(entries: Entries, k: number): string {
  return unitsText(entries.chars.subarray(entries.offsets[k], entries.offsets[k + 1]));
}

/**
 * Code units as text for a message: the first 60 of them (a token may be 100,000 long, and
 * String.fromCharCode(...units) would overflow the stack on it).
 */
function unitsText(units: Uint16Array): string {
  const shown = String.fromCharCode(...units.subarray(0, 60));
  return units.length > 60 ? `${shown}… (${units.length} characters)` : shown;
}

/** Entry k has id k: the characters, offsets and hashes are the table's as they are. */
function tableInFileOrder(entries: Entries, file: string): VocabTable {
  const { count, chars, offsets, hashes } = entries;
  const pool = chars.subarray(0, offsets[count]);
  return new VocabTable(pool, offsets.subarray(0, count + 1), null, hashes.subarray(0, count), duplicateToken(file, pool, offsets));
}

/** Any other order: the tokens are copied into id order, ids without a token left as holes. */
function tableById(entries: Entries, ids: Int32Array, file: string): VocabTable {
  const { count, chars, offsets: entryOffsets, hashes } = entries;
  let nIds = 0;
  for (let k = 0; k < count; k++) if (ids[k]! >= nIds) nIds = ids[k]! + 1;
  // ids far past the count break the gap rule; the general path says which
  if (nIds > 2 * count + 1024) fallback();
  const entryOfId = new Int32Array(nIds).fill(-1);
  for (let k = 0; k < count; k++) {
    const id = ids[k]!;
    const earlier = entryOfId[id]!;
    if (earlier >= 0)
      throw new TokenizerError(
        `${file}: model.vocab: duplicate id ${id}, used by ${JSON.stringify(tokenOf(entries, earlier))} and ${JSON.stringify(tokenOf(entries, k))}`,
      );
    entryOfId[id] = k;
  }
  const offsets = new Int32Array(nIds + 1);
  const present = new Uint8Array(nIds);
  const hashOfId = new Int32Array(nIds);
  const sorted = new Uint16Array(entryOffsets[count]!);
  let total = 0;
  for (let id = 0; id < nIds; id++) {
    offsets[id] = total;
    const k = entryOfId[id]!;
    if (k < 0) continue;
    present[id] = 1;
    hashOfId[id] = hashes[k]!;
    const from = entryOffsets[k]!;
    const length = entryOffsets[k + 1]! - from;
    sorted.set(chars.subarray(from, from + length), total);
    total += length;
  }
  offsets[nIds] = total;
  return new VocabTable(sorted, offsets, present, hashOfId, duplicateToken(file, sorted, offsets));
}

function duplicateToken(file: string, pool: Uint16Array, offsets: Int32Array): (id: number) => never {
  return (id) => {
    throw new TokenizerError(
      `${file}: model.vocab: token ${JSON.stringify(unitsText(pool.subarray(offsets[id], offsets[id + 1])))} appears twice`,
    );
  };
}
