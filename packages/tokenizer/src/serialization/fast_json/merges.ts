import { TokenizerError } from "../../utils/errors.js";
import { MergeTable } from "../../models/merge_table.js";
import type { VocabTable } from "../../models/vocab_table.js";
import { endOfString, fallback, growUnits, skipWs, stringAt } from "./scan.js";
import { readToken, TOKEN } from "./token.js";

/**
 * Reads model.merges, the array at `start` of the file's bytes ("a b" strings or ["a", "b"]
 * pairs), with the vocab already read: each merge is decoded into a small buffer of code units,
 * both halves hashed on the way, and resolved to ids there. Returns the table and the index
 * just past the array. One loop does it all, so V8 compiles one function for it.
 */
export function scanMerges(b: Uint8Array, start: number, file: string, table: VocabTable): { end: number; pairs: MergeTable } {
  // room for a merge per 16 bytes (the usual indented file has 18 or more; compact JSON may
  // need more, and then the table grows): growing mid-loop throws away the compiled loop
  const pairs = new MergeTable(table, Math.ceil((b.length - start) / 16));
  // the merge being read: its halves are units[0, split) and units[split, end)
  let units = new Uint16Array(256);
  let lastMerged = -1;
  // the ids of the merge's halves, as mergeIds finds them
  const halves = new Int32Array(2);
  let j = skipWs(b, start + 1);
  if (b[j] === 93) return { end: j + 1, pairs: pairs.done() };
  for (;;) {
    const at = j;
    let c = b[j];
    let e = -1;
    let split = 0;
    let hashA = 0;
    if (c === 34) {
      // "a b": the first half ends at the space, the second at the quote
      e = readToken(b, j + 1, units, 0, 32);
      if (e >= 0) {
        if (b[e] !== 32) notTwoTokens(b, at, file, pairs.size);
        split = TOKEN[0]!;
        hashA = TOKEN[1]!;
        e = readToken(b, e + 1, units, split, 32);
        if (e >= 0 && b[e] !== 34) notTwoTokens(b, at, file, pairs.size);
      }
    } else if (c === 91) {
      // ["a", "b"]: either half may hold spaces
      j = skipWs(b, j + 1);
      if (b[j] !== 34) fallback();
      e = readToken(b, j + 1, units, 0, -1);
      if (e >= 0) {
        split = TOKEN[0]!;
        hashA = TOKEN[1]!;
        j = skipWs(b, e + 1);
        if (b[j] !== 44) fallback();
        j = skipWs(b, j + 1);
        if (b[j] !== 34) fallback();
        e = readToken(b, j + 1, units, split, -1);
        if (e >= 0) {
          e = skipWs(b, e + 1);
          if (b[e] !== 93) fallback();
        }
      }
    } else fallback();
    if (e < 0) {
      // a merge longer than the buffer: read it again with more room
      units = growUnits(units, TOKEN[0]!);
      j = at;
      continue;
    }
    const end = TOKEN[0]!;
    const hashB = TOKEN[1]!;
    // files list merges in the order of the tokens they make, so the merged token is nearly
    // always the last merge's (files converted from tiktoken have several merges per token)
    // or the next id
    const m = table.mergeIds(units, split, end, hashA, hashB, lastMerged, halves);
    const x = halves[0]!;
    const y = halves[1]!;
    if (x < 0 || y < 0 || m < 0) notInVocab(file, pairs.size, units, split, end, x, y);
    lastMerged = m;
    pairs.add(x, y, m, split);
    c = b[++e];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++e];
    if (c === 93) return { end: e + 1, pairs: pairs.done() };
    if (c !== 44) fallback();
    c = b[++e];
    while (c === 32 || c === 10 || c === 13 || c === 9) c = b[++e];
    j = e;
  }
}

/** An "a b" merge at b[at] without exactly one space. */
function notTwoTokens(b: Uint8Array, at: number, file: string, rank: number): never {
  const s = stringAt(b, at, endOfString(b, at));
  throw new TokenizerError(`${file}: model.merges[${rank}]: expected two tokens separated by one space, found ${JSON.stringify(s)}`);
}

/** Merge `rank` (units[0, split) + units[split, end)) names a token the vocab lacks: x or y is -1, or else the merged token is missing. */
function notInVocab(file: string, rank: number, units: Uint16Array, split: number, end: number, x: number, y: number): never {
  const A = stringOf(units, 0, split);
  const B = stringOf(units, split, end);
  const what = x < 0 ? `token ${JSON.stringify(A)}` : y < 0 ? `token ${JSON.stringify(B)}` : `the merged token ${JSON.stringify(A + B)}`;
  throw new TokenizerError(`${file}: model.merges[${rank}]: ${what} of merge ${JSON.stringify(`${A} ${B}`)} is not in the vocab`);
}

function stringOf(units: Uint16Array, s: number, e: number): string {
  let out = "";
  for (let i = s; i < e; i++) out += String.fromCharCode(units[i]!);
  return out;
}
