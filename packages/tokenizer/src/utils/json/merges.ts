import { TokenizerError } from "../../errors.js";
import { MergeTable } from "../../models/merge_table.js";
import { HASH_P, VocabTable } from "../../models/vocab_table.js";
import { endOfString, fallback, grow, skipWs, stringAt } from "./scan.js";

/**
 * Merges of a file whose merges come before its vocab: kept as spans of the text (four ints per
 * merge; the rare escaped ones as strings) until the vocab is known.
 */
export interface DeferredMerges {
  count: number;
  spans: Int32Array;
  escaped: Map<number, [string, string]>;
}

/**
 * Resolves merges to (left id, right id) -> (rank, merged id) as they are read. Files list the
 * merges in the order of the tokens they make, so the merged token is nearly always the last
 * merge's (files converted from tiktoken have several merges per token) or the next id; those
 * two are tried before hashing.
 */
class MergeResolver {
  readonly pairs: MergeTable;
  private lastMerged = -1;

  constructor(
    private readonly text: string,
    private readonly table: VocabTable,
    private readonly file: string,
    expected: number,
  ) {
    this.pairs = new MergeTable(table, expected);
  }

  /** merge r is text[s1, e1) + text[s2, e2), whose hashes are ha and hb */
  spans(r: number, s1: number, e1: number, s2: number, e2: number, ha: number, hb: number): void {
    const { text, table } = this;
    const a = table.getHashed(text, s1, e1, ha);
    const b = table.getHashed(text, s2, e2, hb);
    const last = this.lastMerged;
    const hab = table.joinHashes(ha, hb, e2 - s2);
    const m =
      last >= 0 && table.hashOf(last) === hab && table.equalsConcat(last, text, s1, e1, s2, e2)
        ? last
        : last + 1 < table.length && table.hashOf(last + 1) === hab && table.equalsConcat(last + 1, text, s1, e1, s2, e2)
          ? last + 1
          : table.getConcatHashed(text, s1, e1, s2, e2, hab);
    if (a === undefined || b === undefined || m === undefined) throw this.error(r, text.slice(s1, e1), text.slice(s2, e2), a, b);
    this.lastMerged = m;
    this.pairs.add(a, b, m);
  }

  strings(r: number, A: string, B: string): void {
    const { table } = this;
    const a = table.get(A);
    const b = table.get(B);
    const m = table.get(A + B);
    if (a === undefined || b === undefined || m === undefined) throw this.error(r, A, B, a, b);
    this.lastMerged = m;
    this.pairs.add(a, b, m);
  }

  private error(r: number, A: string, B: string, a: number | undefined, b: number | undefined): TokenizerError {
    const what = a === undefined ? `token ${JSON.stringify(A)}` : b === undefined ? `token ${JSON.stringify(B)}` : `the merged token ${JSON.stringify(A + B)}`;
    return new TokenizerError(`${this.file}: model.merges[${r}]: ${what} of merge ${JSON.stringify(A + " " + B)} is not in the vocab`);
  }
}

/** hashSpan of the characters the last plainStringEnd call read */
const plainHash = new Int32Array(1);

/**
 * Index of the closing quote of the string literal at i, its characters hashed on the way into
 * plainHash[0]; -1 when a backslash comes first (the caller decodes that one).
 */
function plainStringEnd(text: string, i: number): number {
  if (text.charCodeAt(i) !== 34) fallback();
  const n = text.length;
  let h = 0;
  for (let j = i + 1; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c === 34) {
      plainHash[0] = h;
      return j;
    }
    if (c === 92) return -1;
    h = (Math.imul(h, HASH_P) + c) | 0;
  }
  return fallback();
}

/**
 * Reads model.merges, the array at `start` ("a b" strings or ["a", "b"] pairs). With the vocab
 * already read, merges are resolved to ids on the way; otherwise they are kept as spans.
 */
export function scanMerges(
  text: string,
  start: number,
  file: string,
  table: VocabTable | null,
): { end: number; pairs: MergeTable | null; deferred: DeferredMerges | null } {
  const n = text.length;
  // room for a merge per 16 characters (the usual indented file has 18 or more; compact JSON may
  // need more, and then the table grows): growing mid-loop throws away the compiled loop
  const live = table ? new MergeResolver(text, table, file, Math.ceil((n - start) / 16)) : null;
  let spans = new Int32Array(live ? 0 : 1 << 16);
  const escaped = new Map<number, [string, string]>();
  let count = 0;
  // without the vocab yet: the merge's spans are kept for resolveDeferred
  const keep = (s1: number, e1: number, s2: number, e2: number): void => {
    if ((count + 1) * 4 > spans.length) spans = grow(spans);
    const o = count++ * 4;
    spans[o] = s1;
    spans[o + 1] = e1;
    spans[o + 2] = s2;
    spans[o + 3] = e2;
  };
  const keepStrings = (A: string, B: string): void => {
    if (live) live.strings(count++, A, B);
    else {
      escaped.set(count, [A, B]);
      keep(0, 0, 0, 0);
    }
  };

  let i = skipWs(text, start + 1);
  if (text.charCodeAt(i) === 93) i++;
  else
    for (;;) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        // the usual "a b": one pass finds the space and the closing quote, hashing both halves
        // on the way (their concatenation's hash follows from those)
        let e = -1;
        let sp = -1;
        let spaces = 0;
        let ha = 0;
        let hb = 0;
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
          } else if (sp < 0) ha = (Math.imul(ha, HASH_P) + d) | 0;
          else hb = (Math.imul(hb, HASH_P) + d) | 0;
        }
        if (e >= 0 && spaces === 1) {
          if (live) live.spans(count++, i + 1, sp, sp + 1, e, ha, hb);
          else keep(i + 1, sp, sp + 1, e);
        } else {
          e = endOfString(text, i);
          const s = stringAt(text, i, e);
          const k = s.indexOf(" ");
          if (k < 0 || s.indexOf(" ", k + 1) >= 0)
            throw new TokenizerError(`${file}: model.merges[${count}]: expected two tokens separated by one space, found ${JSON.stringify(s)}`);
          keepStrings(s.slice(0, k), s.slice(k + 1));
        }
        i = skipWs(text, e + 1);
      } else if (c === 91) {
        // ["a", "b"]: each half hashed as it is read; one with escapes is decoded instead
        const s1 = skipWs(text, i + 1);
        const plain1 = plainStringEnd(text, s1);
        const ha = plainHash[0]!;
        const e1 = plain1 >= 0 ? plain1 : endOfString(text, s1);
        i = skipWs(text, e1 + 1);
        if (text.charCodeAt(i) !== 44) fallback();
        const s2 = skipWs(text, i + 1);
        const plain2 = plainStringEnd(text, s2);
        const hb = plainHash[0]!;
        const e2 = plain2 >= 0 ? plain2 : endOfString(text, s2);
        i = skipWs(text, e2 + 1);
        if (text.charCodeAt(i) !== 93) fallback();
        i = skipWs(text, i + 1);
        // unescaped halves are their own spans of the text
        if (plain1 < 0 || plain2 < 0) keepStrings(stringAt(text, s1, e1), stringAt(text, s2, e2));
        else if (live) live.spans(count++, s1 + 1, e1, s2 + 1, e2, ha, hb);
        else keep(s1 + 1, e1, s2 + 1, e2);
      } else fallback();
      const d = text.charCodeAt(i);
      if (d === 44) i = skipWs(text, i + 1);
      else if (d === 93) {
        i++;
        break;
      } else fallback();
    }
  return { end: i, pairs: live ? live.pairs.done() : null, deferred: live ? null : { count, spans, escaped } };
}

/** Resolves merges read before the vocab. */
export function resolveDeferred(text: string, d: DeferredMerges, table: VocabTable, file: string): MergeTable {
  const resolver = new MergeResolver(text, table, file, d.count);
  const spans = d.spans;
  for (let r = 0; r < d.count; r++) {
    const esc = d.escaped.get(r);
    if (esc) resolver.strings(r, esc[0], esc[1]);
    else {
      const o = r * 4;
      const s1 = spans[o]!;
      const e1 = spans[o + 1]!;
      const s2 = spans[o + 2]!;
      const e2 = spans[o + 3]!;
      resolver.spans(r, s1, e1, s2, e2, VocabTable.hashSpan(text, s1, e1), VocabTable.hashSpan(text, s2, e2));
    }
  }
  return resolver.pairs.done();
}
