import { describe, it, expect } from "vitest";
import { MergeTable, PairTable, VocabTable } from "../src/index.js";
import { HASH_P } from "../src/models/vocab_table.js";
import { rng } from "./helpers.js";

// MergeTable keys merges by the token they make and finds a pair through the vocab; PairTable
// hashes the pair itself. Built from the same merge list they must answer every pair alike.

interface Case {
  vocab: VocabTable;
  merges: Array<[number, number, number]>;
}

/**
 * A vocab grown from a few characters by merging random pairs, and its merge list: some tokens
 * get several merges (as files converted from tiktoken have), some merges are moved after
 * later tokens' merges, and some pairs are listed twice.
 */
function randomCase(seed: number, shuffled: number): Case {
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const tokens = ["a", "b", "c", "d", "\u00e9", "\u{1F600}"];
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const merges: Array<[number, number, number]> = [];
  while (merges.length < 400) {
    const a = pick(tokens);
    const b = pick(tokens);
    if (a.length + b.length > 12) continue;
    let m = ids.get(a + b);
    if (m === undefined) {
      m = tokens.length;
      tokens.push(a + b);
      ids.set(a + b, m);
    }
    merges.push([ids.get(a)!, ids.get(b)!, m]);
  }
  merges.sort((x, y) => x[2] - y[2]);
  for (let k = 0; k < shuffled; k++) {
    const i = Math.floor(rand() * merges.length);
    const [moved] = merges.splice(i, 1);
    merges.splice(i + Math.floor(rand() * (merges.length - i)), 0, moved!);
  }
  // pairs listed twice, the second time within the same run
  for (let k = 0; k < 10; k++) {
    const i = Math.floor(rand() * merges.length);
    merges.splice(i + 1, 0, merges[i]!);
  }
  // holes: ids past the tokens, as added tokens leave them
  return { vocab: VocabTable.fromTokens([...tokens, undefined, "zz"]), merges };
}

function tables({ vocab, merges }: Case): [MergeTable, PairTable] {
  const table = new MergeTable(vocab, 4);
  const pairs = new PairTable();
  merges.forEach(([a, b, m], r) => {
    table.add(a, b, m);
    pairs.set(a, b, r, m);
  });
  return [table.done(), pairs];
}

/** Checks every pair of ids; returns how many pairs the table kept out of runs, and how many merge. */
function expectSameAnswers(c: Case): { late: number; distinct: number } {
  const [table, pairs] = tables(c);
  const n = c.vocab.length;
  let merging = 0;
  const wrong: string[] = [];
  for (let a = 0; a < n; a++) {
    if (c.vocab.token(a) === undefined) continue;
    for (let b = 0; b < n; b++) {
      if (c.vocab.token(b) === undefined) continue;
      const s = table.find(a, b);
      const p = pairs.find(a, b);
      const got = s < 0 ? "none" : `rank ${table.rank(s)} -> ${table.result(s)}`;
      const want = p < 0 ? "none" : `rank ${pairs.rank(p)} -> ${pairs.result(p)}`;
      if (got !== want) wrong.push(`(${a}, ${b}): ${got}, expected ${want}`);
      if (p >= 0) merging++;
    }
  }
  expect(wrong).toEqual([]);
  expect(merging).toBe(pairs.size);
  return { late: table.outOfRun, distinct: pairs.size };
}

describe("MergeTable answers as a PairTable of the same merges", () => {
  it.each([1, 2, 3])("merges in token order, several per token, some listed twice (seed %i)", (seed) => {
    expect(expectSameAnswers(randomCase(seed, 0)).late).toBe(0);
  });

  it.each([4, 5, 6])("with merges moved after later tokens' runs (seed %i)", (seed) => {
    const c = randomCase(seed, 8);
    const { late } = expectSameAnswers(c);
    expect(late).toBeGreaterThan(0);
    expect(late).toBeLessThan(c.merges.length / 2);
  });

  it("a token with more merges than a run keeps (every split of x^200): the rest go to the pair table", () => {
    const tokens = Array.from({ length: 200 }, (_, k) => "x".repeat(k + 1));
    const vocab = VocabTable.fromTokens(tokens);
    // x^(k+1) + x^(199-k) = x^200 for k = 0..198, all in x^200's run
    const splits: [number, number, number][] = Array.from({ length: 199 }, (_, k) => [k, 198 - k, 199]);
    // a run holds 128 ranks: the other 71 merges are in the pair table
    expect(expectSameAnswers({ vocab, merges: splits })).toEqual({ late: 71, distinct: 199 });
    // listed twice: the second listings (all past the run) count, and being most, take all
    expect(expectSameAnswers({ vocab, merges: [...splits, ...splits] })).toEqual({ late: 199, distinct: 199 });
  });

  it("a merge whose left half is 255 code units or longer goes to the pair table (a run keeps a byte per merge)", () => {
    const x = (n: number) => "x".repeat(n);
    const tokens = ["x", x(40), x(254), x(255), x(260), "y", "yy", "yyy", "yyyy", x(294), x(295), x(300), x(39)];
    const vocab = VocabTable.fromTokens(tokens);
    // three short merges in runs, then x^254 + x^40 (in x^294's run), x^255 + x^40 and x^260 + x^40
    // (late, so marked as no merge of x^294 inside its run's ranks). x^255 + x^39 is x^294 too, but
    // no merge: a left length of 255 must not match those marks
    const merges: [number, number, number][] = [
      [5, 5, 6],
      [5, 6, 7],
      [6, 6, 8],
      [2, 1, 9],
      [3, 1, 10],
      [4, 1, 11],
    ];
    expect(expectSameAnswers({ vocab, merges })).toEqual({ late: 2, distinct: 6 });
  });

  it("with most merges out of order (all kept in the pair table)", () => {
    const c = randomCase(7, 0);
    c.merges.reverse();
    const { late, distinct } = expectSameAnswers(c);
    expect(late).toBe(distinct);
  });

  it("the later of a pair listed twice counts, in a run and out of one", () => {
    const vocab = VocabTable.fromTokens(["a", "b", "ab", "c", "bc", "abc"]);
    const table = new MergeTable(vocab);
    table.add(0, 1, 2); // rank 0: a b
    table.add(0, 4, 5); // rank 1: a bc
    table.add(1, 3, 4); // rank 2: b c (late: abc's run has begun)
    table.add(0, 4, 5); // rank 3: a bc again, in abc's run
    table.add(0, 1, 2); // rank 4: a b again, late
    table.done();
    expect(table.rank(table.find(0, 4))).toBe(3);
    expect(table.rank(table.find(0, 1))).toBe(4);
    expect(table.result(table.find(1, 3))).toBe(4);
    expect(table.find(2, 3)).toBe(-1); // "abc" is a token but "ab c" is no merge
    expect(table.find(1, 0)).toBe(-1);
  });

  it("tokens that share a hash: a pair is still found by its characters", () => {
    // these two 3-unit strings have the same polynomial hash (found by search)
    const x = "a\u0300\u1000";
    const y = "b\u00da\uf769";
    expect(VocabTable.hashSpan(x, 0, 3)).toBe(VocabTable.hashSpan(y, 0, 3));
    // y is indexed first, so the slot for x's hash holds y
    const vocab = VocabTable.fromTokens([y, "b", "\u00da\uf769", "a", "\u0300\u1000", x]);
    const table = new MergeTable(vocab);
    table.add(1, 2, 0); // b + ...  = y
    table.add(3, 4, 5); // a + ...  = x
    table.done();
    expect(table.result(table.find(3, 4))).toBe(5);
    expect(table.result(table.find(1, 2))).toBe(0);
    expect(table.find(3, 2)).toBe(-1);
    expect(vocab.concatId(3, 4)).toBe(5);
  });

  it("a merge's half is matched by its whole hash, not just the bits a slot keeps beside the id", () => {
    // Eight ids: 16 slots, each holding 4 bits of id and the low 28 bits of a hash. Hashes that
    // agree there differ in their home slot (the top 4 bits of hash * golden ratio), so the
    // index meets such a pair only along a run of full slots. The hashes given here (not the
    // strings' own; the table takes the caller's) set that up: token u sits in the home slot of
    // the join a + b, and token t, whose hash agrees with the join's in the low 28 bits, next to it.
    const GOLDEN = 0x9e3779b1;
    const home = (h: number) => Math.imul(h, GOLDEN) >>> 28;
    const tokens = ["a", "b", "u", "tt", "f1", "f2", "f3", "f4"];
    const ha = 0x1234567;
    const hb = 0x7654321;
    const join = (Math.imul(ha, HASH_P) + hb) | 0;
    let hu = join + 1;
    while (home(hu) !== home(join)) hu++;
    const ht = (join + 2 ** 28) | 0; // GOLDEN is 1 mod 16: one slot further on
    expect(home(ht)).toBe((home(join) + 1) % 16);
    const taken = new Set([home(ha), home(hb), home(join), home(ht)]);
    const fillers: number[] = [];
    for (let h = 1; fillers.length < 4; h += 0x10001) {
      if (taken.has(home(h))) continue;
      fillers.push(h);
      taken.add(home(h));
    }
    const pool = new Uint16Array([...tokens.join("")].map((c) => c.charCodeAt(0)));
    const offsets = new Int32Array(tokens.length + 1);
    tokens.forEach((t, k) => (offsets[k + 1] = offsets[k]! + t.length));
    const vocab = new VocabTable(pool, offsets, null, new Int32Array([ha, hb, hu, ht, ...fillers]));
    // a merge half of length 2 with the join's hash: "tt" has that length and the hash's low 28
    // bits (the slot's tag), but not the hash, so it is not the half (halves are found by hash
    // and length; characters are compared only where tokens share a hash)
    const halves = new Int32Array(2);
    const units = new Uint16Array([..."tta"].map((c) => c.charCodeAt(0)));
    vocab.mergeIds(units, 2, 3, join, ha, -1, halves);
    expect([...halves]).toEqual([-1, 0]);
    // with the whole hash it is
    vocab.mergeIds(units, 2, 3, ht, ha, -1, halves);
    expect([...halves]).toEqual([3, 0]);
    expect(vocab.concatId(0, 1)).toBe(-1);
    expect(vocab.hashOf(3)).toBe(ht);
  });

  it("the later of a pair listed twice counts when most merges are out of order too", () => {
    const vocab = VocabTable.fromTokens(["a", "b", "c", "ab", "bc", "ca", "abc"]);
    const table = new MergeTable(vocab);
    table.add(0, 1, 3); // rank 0: a b, in ab's run
    table.add(0, 4, 6); // rank 1: a bc, abc's run: every merge below is late
    table.add(0, 1, 3); // rank 2: a b again
    table.add(1, 2, 4); // rank 3: b c
    table.add(2, 0, 5); // rank 4: c a
    table.done();
    expect(table.outOfRun).toBe(4); // every distinct pair
    expect(table.rank(table.find(0, 1))).toBe(2);
    expect(table.rank(table.find(0, 4))).toBe(1);
    expect(table.result(table.find(2, 0))).toBe(5);
  });
});
