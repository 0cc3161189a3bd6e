import { TokenizerError } from "../errors.js";
import { VocabTable } from "../models/vocab_table.js";
import { PairTable } from "../models/pair_table.js";

/** What the fast reader pulls out of tokenizer.json text besides the small parts. */
export interface FastModelData {
  /** vocab ids in file order (for the caller's gap check) */
  ids: number[];
  /** id -> token (holes where no token has the id) and token -> id, duplicates already rejected */
  vocab: string[];
  tokenToId: VocabTable;
  /** the merges, resolved while reading when the vocab came first (as it does in files from the library) */
  pairs: PairTable | null;
  /** resolves merges kept as spans of the text, when they came before the vocab */
  resolveMerges(tokenToId: VocabTable, vocab: readonly (string | undefined)[]): PairTable;
}

class Fallback extends Error {}

/** token === text[s1, e1) + text[s2, e2) */
function spansEqual(token: string | undefined, text: string, s1: number, e1: number, s2: number, e2: number): boolean {
  if (token === undefined || token.length !== e1 - s1 + (e2 - s2)) return false;
  let k = 0;
  for (let j = s1; j < e1; j++) if (token.charCodeAt(k++) !== text.charCodeAt(j)) return false;
  for (let j = s2; j < e2; j++) if (token.charCodeAt(k++) !== text.charCodeAt(j)) return false;
  return true;
}
const fallback = (): never => {
  throw new Fallback();
};

/**
 * Reads tokenizer.json text without materialising the big model.vocab object and
 * model.merges array: tokens are sliced straight from the text into a VocabTable, and merges
 * are resolved to id pairs by hashing spans of the text. Everything else is JSON.parse'd piece
 * by piece. Returns null when the text is not shaped as expected (the caller then uses
 * JSON.parse, which also gives the standard message for malformed JSON).
 */
export function readTokenizerJsonFast(text: string, file: string): { root: Record<string, unknown>; data: FastModelData | null } | null {
  try {
    return read(text, file);
  } catch (e) {
    if (e instanceof Fallback) return null;
    throw e;
  }
}

function read(text: string, file: string): { root: Record<string, unknown>; data: FastModelData | null } {
  const n = text.length;
  let hadEscape = false;
  const ws = (i: number): number => {
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 32 || c === 10 || c === 13 || c === 9) i++;
      else break;
    }
    return i;
  };
  // i at the opening quote; returns the index of the closing quote
  const endOfString = (i: number): number => {
    hadEscape = false;
    for (let j = i + 1; j < n; j++) {
      const c = text.charCodeAt(j);
      if (c === 34) return j;
      if (c === 92) {
        hadEscape = true;
        j++;
      }
    }
    return fallback();
  };
  const skipValue = (i: number): number => {
    const c = text.charCodeAt(i);
    if (c === 34) return endOfString(i) + 1;
    if (c === 123 || c === 91) {
      let depth = 0;
      for (let j = i; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 34) j = endOfString(j);
        else if (d === 123 || d === 91) depth++;
        else if (d === 125 || d === 93) {
          if (--depth === 0) return j + 1;
        }
      }
      return fallback();
    }
    let j = i;
    while (j < n) {
      const d = text.charCodeAt(j);
      if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
      j++;
    }
    return j > i ? j : fallback();
  };
  const stringAt = (i: number, e: number, escaped: boolean): string => (escaped ? (JSON.parse(text.slice(i, e + 1)) as string) : text.slice(i + 1, e));
  // calls onKey for each key of the object at i; onKey returns the end of the value
  const walkObject = (i: number, onKey: (key: string, valueStart: number) => number): number => {
    if (text.charCodeAt(i) !== 123) fallback();
    i = ws(i + 1);
    if (text.charCodeAt(i) === 125) return i + 1;
    for (;;) {
      if (text.charCodeAt(i) !== 34) fallback();
      const e = endOfString(i);
      const key = stringAt(i, e, hadEscape);
      i = ws(e + 1);
      if (text.charCodeAt(i) !== 58) fallback();
      i = ws(i + 1);
      i = ws(onKey(key, i));
      const c = text.charCodeAt(i);
      if (c === 44) i = ws(i + 1);
      else if (c === 125) return i + 1;
      else fallback();
    }
  };

  let vocabData: { ids: number[]; vocab: string[]; table: VocabTable } | null = null;
  let mergeSpans: Int32Array | null = null;
  let mergeCount = 0;
  const escapedMerges = new Map<number, [string, string]>();

  const readVocabObject = (start: number): number => {
    // one tight loop: key (hashed while scanned), colon, integer id, separator
    const tokens: string[] = [];
    const hashes: number[] = [];
    const ids: number[] = [];
    let i = ws(start + 1);
    if (text.charCodeAt(i) === 125) i++;
    else
      for (;;) {
        if (text.charCodeAt(i) !== 34) fallback();
        let h = 0x811c9dc5;
        let j = i + 1;
        let c = 0;
        for (; j < n; j++) {
          c = text.charCodeAt(j);
          if (c === 34 || c === 92) break;
          h = Math.imul(h ^ c, 0x01000193);
        }
        let token: string;
        if (c === 92) {
          const e = endOfString(i);
          token = JSON.parse(text.slice(i, e + 1)) as string;
          h = VocabTable.hashSpan(token, 0, token.length);
          j = e;
        } else {
          if (j >= n) fallback();
          token = text.slice(i + 1, j);
        }
        i = ws(j + 1);
        if (text.charCodeAt(i) !== 58) fallback();
        i = ws(i + 1);
        const v = i;
        let id = 0;
        while (i < n) {
          const d = text.charCodeAt(i);
          if (d < 48 || d > 57) break;
          id = id * 10 + (d - 48);
          i++;
        }
        if (i === v) fallback(); // not a plain non-negative integer: let the slow path report it
        const d = text.charCodeAt(i);
        if (d === 46 || d === 101 || d === 69) fallback();
        tokens.push(token);
        hashes.push(h);
        ids.push(id);
        i = ws(i);
        const sep = text.charCodeAt(i);
        if (sep === 44) i = ws(i + 1);
        else if (sep === 125) {
          i++;
          break;
        } else fallback();
      }
    const count = tokens.length;
    const table = new VocabTable(count);
    const byId: string[] = new Array(count);
    for (let k = 0; k < count; k++) {
      const id = ids[k]!;
      const token = tokens[k]!;
      if (byId[id] !== undefined) throw new TokenizerError(`${file}: model.vocab: duplicate id ${id}, used by ${JSON.stringify(byId[id])} and ${JSON.stringify(token)}`);
      if (table.setHashed(token, hashes[k]!, id) !== undefined) throw new TokenizerError(`${file}: model.vocab: token ${JSON.stringify(token)} appears twice`);
      byId[id] = token;
    }
    vocabData = { ids, vocab: byId, table };
    return i;
  };

  // merges resolved as they are read, once the vocab is known
  let livePairs: PairTable | null = null;
  let lastMerged = -2;
  const resolveOne = (r: number, s1: number, e1: number, s2: number, e2: number): void => {
    const { table, vocab } = vocabData!;
    const a = table.getSpan(text, s1, e1);
    const b = table.getSpan(text, s2, e2);
    // merged tokens usually take consecutive ids: try the next id before hashing
    const guess = lastMerged + 1;
    const m = guess < vocab.length && spansEqual(vocab[guess], text, s1, e1, s2, e2) ? guess : table.getConcat(text, s1, e1, s2, e2);
    if (a === undefined || b === undefined || m === undefined) throw mergeError(r, text.slice(s1, e1), text.slice(s2, e2), a, b);
    lastMerged = m;
    livePairs!.set(a, b, r, m);
  };
  const resolveHashed = (r: number, s1: number, e1: number, s2: number, e2: number, ha: number, hb: number, hab: number): void => {
    const { table, vocab } = vocabData!;
    const a = table.getHashed(text, s1, e1, ha);
    const b = table.getHashed(text, s2, e2, hb);
    const guess = lastMerged + 1;
    const m = guess < vocab.length && spansEqual(vocab[guess], text, s1, e1, s2, e2) ? guess : table.getConcatHashed(text, s1, e1, s2, e2, hab);
    if (a === undefined || b === undefined || m === undefined) throw mergeError(r, text.slice(s1, e1), text.slice(s2, e2), a, b);
    lastMerged = m;
    livePairs!.set(a, b, r, m);
  };
  const resolveStrings = (r: number, A: string, B: string): void => {
    const { table } = vocabData!;
    const a = table.get(A);
    const b = table.get(B);
    const m = table.get(A + B);
    if (a === undefined || b === undefined || m === undefined) throw mergeError(r, A, B, a, b);
    livePairs!.set(a, b, r, m);
  };
  const mergeError = (r: number, A: string, B: string, a: number | undefined, b: number | undefined): TokenizerError => {
    const what = a === undefined ? `token ${JSON.stringify(A)}` : b === undefined ? `token ${JSON.stringify(B)}` : `the merged token ${JSON.stringify(A + B)}`;
    return new TokenizerError(`${file}: model.merges[${r}]: ${what} of merge ${JSON.stringify(A + " " + B)} is not in the vocab`);
  };

  const readMergesArray = (i: number): number => {
    if (text.charCodeAt(i) !== 91) fallback();
    const live = vocabData !== null;
    if (live) livePairs = new PairTable(Math.ceil((n - i) / 16));
    let spans = new Int32Array(live ? 0 : 1 << 16);
    let count = 0;
    const push = (s1: number, e1: number, s2: number, e2: number) => {
      if (live) {
        resolveOne(count++, s1, e1, s2, e2);
        return;
      }
      if ((count + 1) * 4 > spans.length) {
        const g = new Int32Array(spans.length * 2);
        g.set(spans);
        spans = g;
      }
      const o = count * 4;
      spans[o] = s1;
      spans[o + 1] = e1;
      spans[o + 2] = s2;
      spans[o + 3] = e2;
      count++;
    };
    i = ws(i + 1);
    if (text.charCodeAt(i) === 93) {
      mergeSpans = spans;
      mergeCount = 0;
      return i + 1;
    }
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        // one pass for the usual "a b": find the closing quote and the space together, hashing
        // both halves and their concatenation on the way
        let e = -1;
        let sp = -1;
        let spaces = 0;
        let ha = 0x811c9dc5;
        let hb = 0x811c9dc5;
        let hab = 0x811c9dc5;
        for (let j = i + 1; j < n; j++) {
          const d = text.charCodeAt(j);
          if (d === 34) {
            e = j;
            break;
          }
          if (d === 92) break;
          if (d === 32) {
            spaces++;
            sp = j;
            hab = ha;
            continue;
          }
          if (sp < 0) ha = Math.imul(ha ^ d, 0x01000193);
          else {
            hb = Math.imul(hb ^ d, 0x01000193);
            hab = Math.imul(hab ^ d, 0x01000193);
          }
        }
        if (e >= 0 && spaces === 1) {
          if (live) resolveHashed(count++, i + 1, sp, sp + 1, e, ha, hb, hab);
          else push(i + 1, sp, sp + 1, e);
          i = ws(e + 1);
          const d = text.charCodeAt(i);
          if (d === 44) {
            i = ws(i + 1);
            continue;
          }
          if (d === 93) {
            mergeSpans = spans;
            mergeCount = count;
            return i + 1;
          }
          fallback();
        }
        e = endOfString(i);
        if (hadEscape) {
          const s = JSON.parse(text.slice(i, e + 1)) as string;
          const sp = s.indexOf(" ");
          if (sp < 0 || s.indexOf(" ", sp + 1) >= 0)
            throw new TokenizerError(`${file}: model.merges[${count}]: expected two tokens separated by one space, found ${JSON.stringify(s)}`);
          if (live) resolveStrings(count++, s.slice(0, sp), s.slice(sp + 1));
          else {
            escapedMerges.set(count, [s.slice(0, sp), s.slice(sp + 1)]);
            push(0, 0, 0, 0);
          }
        } else {
          let sp = -1;
          for (let j = i + 1; j < e; j++) {
            if (text.charCodeAt(j) === 32) {
              if (sp >= 0) {
                sp = -2;
                break;
              }
              sp = j;
            }
          }
          if (sp < 0)
            throw new TokenizerError(`${file}: model.merges[${count}]: expected two tokens separated by one space, found ${text.slice(i, e + 1)}`);
          push(i + 1, sp, sp + 1, e);
        }
        i = ws(e + 1);
      } else if (c === 91) {
        i = ws(i + 1);
        if (text.charCodeAt(i) !== 34) fallback();
        const e1 = endOfString(i);
        const esc1 = hadEscape;
        const s1 = i;
        i = ws(e1 + 1);
        if (text.charCodeAt(i) !== 44) fallback();
        i = ws(i + 1);
        if (text.charCodeAt(i) !== 34) fallback();
        const e2 = endOfString(i);
        const esc2 = hadEscape;
        const s2 = i;
        i = ws(e2 + 1);
        if (text.charCodeAt(i) !== 93) fallback();
        i = ws(i + 1);
        if (esc1 || esc2) {
          if (live) resolveStrings(count++, stringAt(s1, e1, esc1), stringAt(s2, e2, esc2));
          else {
            escapedMerges.set(count, [stringAt(s1, e1, esc1), stringAt(s2, e2, esc2)]);
            push(0, 0, 0, 0);
          }
        } else push(s1 + 1, e1, s2 + 1, e2);
      } else fallback();
      const d = text.charCodeAt(i);
      if (d === 44) i = ws(i + 1);
      else if (d === 93) {
        mergeSpans = spans;
        mergeCount = count;
        return i + 1;
      } else fallback();
    }
  };

  const root: Record<string, unknown> = {};
  const start = ws(0);
  const end = walkObject(start, (key, v) => {
    if (key === "model" && text.charCodeAt(v) === 123) {
      const model: Record<string, unknown> = {};
      root.model = model;
      return walkObject(v, (mkey, mv) => {
        if (mkey === "vocab" && text.charCodeAt(mv) === 123) return readVocabObject(mv);
        if (mkey === "merges" && text.charCodeAt(mv) === 91) return readMergesArray(mv);
        const e = skipValue(mv);
        model[mkey] = JSON.parse(text.slice(mv, e));
        return e;
      });
    }
    const e = skipValue(v);
    root[key] = JSON.parse(text.slice(v, e));
    return e;
  });
  if (ws(end) !== n) fallback();
  const model = root.model as Record<string, unknown> | undefined;
  if (!model || vocabData === null || mergeSpans === null) {
    // not the usual shape; let the general path read it
    return fallback();
  }
  const { ids, vocab, table } = vocabData as { ids: number[]; vocab: string[]; table: VocabTable };
  const spans = mergeSpans as Int32Array;
  const count = mergeCount;
  const resolveMerges = (tokenToId: VocabTable, vocabList: readonly (string | undefined)[]): PairTable => {
    const pairs = new PairTable(count);
    let lastMerged = -2;
    for (let r = 0; r < count; r++) {
      const esc = escapedMerges.get(r);
      let a: number | undefined, b: number | undefined, m: number | undefined;
      if (esc) {
        a = tokenToId.get(esc[0]);
        b = tokenToId.get(esc[1]);
        m = tokenToId.get(esc[0] + esc[1]);
      } else {
        const o = r * 4;
        const s1 = spans[o]!;
        const e1 = spans[o + 1]!;
        const s2 = spans[o + 2]!;
        const e2 = spans[o + 3]!;
        a = tokenToId.getSpan(text, s1, e1);
        b = tokenToId.getSpan(text, s2, e2);
        // merged tokens usually take consecutive ids: try the next id before hashing
        const guess = lastMerged + 1;
        m = guess < vocabList.length && spansEqual(vocabList[guess], text, s1, e1, s2, e2) ? guess : tokenToId.getConcat(text, s1, e1, s2, e2);
        if (m !== undefined) lastMerged = m;
      }
      if (a === undefined || b === undefined || m === undefined) {
        const o = r * 4;
        const A = esc ? esc[0] : text.slice(spans[o]!, spans[o + 1]!);
        const B = esc ? esc[1] : text.slice(spans[o + 2]!, spans[o + 3]!);
        const what = a === undefined ? `token ${JSON.stringify(A)}` : b === undefined ? `token ${JSON.stringify(B)}` : `the merged token ${JSON.stringify(A + B)}`;
        throw new TokenizerError(`${file}: model.merges[${r}]: ${what} of merge ${JSON.stringify(A + " " + B)} is not in the vocab`);
      }
      pairs.set(a, b, r, m);
    }
    return pairs;
  };
  return { root, data: { ids, vocab, tokenToId: table, pairs: livePairs, resolveMerges } };
}
