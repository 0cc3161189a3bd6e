import { TokenizerError } from "../utils/errors.js";

/** the polynomial hash's multiplier (odd, so joining hashes loses nothing) */
export const HASH_P = 0x01000193;
/** 2^32 / golden ratio: spreads the hash's top bits over the slots (Fibonacci hashing) */
const GOLDEN = 0x9e3779b1 | 0;

/**
 * The vocab both ways: id -> token and token -> id.
 *
 * All token text lives in one array of UTF-16 code units, the pool: the token of id i is
 * pool[offsets[i], offsets[i + 1]). The hash index is one Int32 per slot: the id, and above it
 * as many low bits of the token's hash as fit (a tag, which rules out nearly every other token
 * before characters or the full hash are compared). Candidates are compared against the pool in
 * place, so a lookup of a span of a larger string, or of two spans joined, needs no substring.
 * The index takes 1 MB for a 128k vocab where (hash, id) pairs took 2: loading is paced by the
 * memory it touches, and this is the most randomly touched. Loading a 128k-token vocab this way
 * allocates a few typed arrays instead of 128k strings, which is most of what makes
 * tokenizer.json load fast (each of its ~280k merges looks up both halves and their
 * concatenation). Token strings are made when asked for, and kept.
 *
 * The hash is polynomial (h = h * P + c), so the hash of two tokens joined follows from theirs:
 * concatId(a, b) finds the token a + b without touching its characters until the compare. The
 * merge table leans on that to key merges by the token they make.
 */
export class VocabTable {
  private readonly pool: Uint16Array;
  /** token strings made so far, by id */
  private strings: (string | undefined)[] | null = null;
  private readonly offsets: Int32Array;
  /** 1 where an id has a token; ids may have holes (added tokens live past the model's vocab) */
  private readonly present: Uint8Array;
  /** per id: hashSpan of its token (0 for holes) */
  private readonly hashes: Int32Array;
  /** P^k for k = 0..255 (longer joins compute theirs) */
  private static readonly powers = powersUpTo(255);
  /** per slot: id + 1 in the low idBits bits, the hash's low bits above them (0 = empty) */
  private readonly slots: Int32Array;
  /** bits that hold id + 1 in a slot */
  private readonly idBits: number;
  private readonly idMask: number;
  private readonly mask: number;
  /** 32 - log2(slot count): the slot of a hash is the top bits of hash * golden ratio */
  private readonly shift: number;
  /** number of tokens */
  readonly size: number;
  /**
   * 1 at h & 255 for each hash h that two or more tokens have (a few in a large vocab: 128k
   * 32-bit hashes have ~2 pairs alike); mergeIds compares a half's characters only there
   */
  private readonly sharedHashes = new Uint8Array(256);

  /**
   * Indexes the tokens of pool/offsets (ids 0..offsets.length - 2; those with present[id] = 0
   * have no token). `hashes`, when given, holds hashSpan of each id's token (a reader that has
   * just scanned the tokens knows them). A token that appears under two ids calls
   * onDuplicate(id, earlierId), which is expected to throw; without it a generic error is thrown.
   */
  constructor(
    pool: Uint16Array,
    offsets: Int32Array,
    present: Uint8Array | null = null,
    hashes: Int32Array | null = null,
    onDuplicate?: (id: number, earlierId: number) => never,
  ) {
    const ids = offsets.length - 1;
    this.pool = pool;
    this.offsets = offsets;
    this.present = present ?? new Uint8Array(ids).fill(1);
    this.size = present ? countOnes(present) : ids;
    const count = this.size;
    let cap = 16;
    let bits = 4;
    while (cap < count * 2) {
      cap <<= 1;
      bits++;
    }
    this.mask = cap - 1;
    this.shift = 32 - bits;
    this.slots = new Int32Array(cap);
    this.idBits = 32 - Math.clz32(ids);
    this.idMask = 2 ** this.idBits - 1;
    this.hashes = hashes ?? hashTokens(pool, offsets, this.present);
    const twice = this.insertAll();
    if (twice >= 0) {
      const earlier = this.idOfSameToken(twice);
      if (onDuplicate) onDuplicate(twice, earlier);
      throw new TokenizerError(`vocab: token ${JSON.stringify(this.token(earlier))} has two ids, ${earlier} and ${twice}`);
    }
  }

  /** Table of tokens[id] -> id; undefined entries are holes. See the constructor for onDuplicate. */
  static fromTokens(tokens: readonly (string | undefined)[], onDuplicate?: (id: number, earlierId: number) => never): VocabTable {
    const n = tokens.length;
    const offsets = new Int32Array(n + 1);
    const present = new Uint8Array(n);
    let total = 0;
    for (let id = 0; id < n; id++) {
      offsets[id] = total;
      const t = tokens[id];
      if (t === undefined) continue;
      present[id] = 1;
      total += t.length;
    }
    offsets[n] = total;
    const pool = new Uint16Array(total);
    for (let id = 0; id < n; id++) {
      const t = tokens[id];
      if (t === undefined) continue;
      for (let j = 0, o = offsets[id]!; j < t.length; j++) pool[o + j] = t.charCodeAt(j);
    }
    return new VocabTable(pool, offsets, present, null, onDuplicate);
  }

  /** Polynomial hash of text[s, e) (h = h * P + c from 0, mod 2^32): what the index keys on. */
  static hashSpan(text: string, s: number, e: number): number {
    let h = 0;
    for (let i = s; i < e; i++) h = (Math.imul(h, HASH_P) + text.charCodeAt(i)) | 0;
    return h;
  }

  /** The hash of x + y from hashSpan(x), hashSpan(y) and y's length. */
  joinHashes(hx: number, hy: number, yLength: number): number {
    const powers = VocabTable.powers;
    // the rare y longer than the table: P^yLength the slow way
    return (Math.imul(hx, yLength < powers.length ? powers[yLength]! : powersUpTo(yLength)[yLength]!) + hy) | 0;
  }

  /** hashSpan of the token of `id` (0 for a hole) */
  hashOf(id: number): number {
    return this.hashes[id]!;
  }

  /** Length of the token of `id` (0 for a hole). */
  lengthOf(id: number): number {
    return this.offsets[id + 1]! - this.offsets[id]!;
  }

  /** Number of ids (the largest id + 1), holes included. */
  get length(): number {
    return this.offsets.length - 1;
  }

  /** The token of `id`, or undefined when no token has it. */
  token(id: number): string | undefined {
    if (!(id >= 0 && id < this.offsets.length - 1) || this.present[id] === 0) return undefined;
    const strings = (this.strings ??= Array.from({ length: this.length }, () => undefined));
    return (strings[id] ??= stringOfCodes(this.pool, this.offsets[id]!, this.offsets[id + 1]!));
  }

  /** Every token by id (holes are undefined). */
  tokens(): (string | undefined)[] {
    const out: (string | undefined)[] = new Array(this.length);
    for (let id = 0; id < out.length; id++) out[id] = this.token(id);
    return out;
  }

  /** id of `token`, or undefined */
  get(token: string): number | undefined {
    return this.getSpan(token, 0, token.length);
  }

  has(token: string): boolean {
    return this.getSpan(token, 0, token.length) !== undefined;
  }

  /** id of text[s, e), or undefined */
  getSpan(text: string, s: number, e: number): number | undefined {
    return this.getHashed(text, s, e, VocabTable.hashSpan(text, s, e));
  }

  // Each lookup below writes its probe loop out. One shared probe method (slot -> next slot with
  // the tag) made a first load of llama3's tokenizer.json 18 ms slower: the calls cost most while
  // V8 still runs the loops unoptimized, which is much of a cold load.

  /** id of text[s, e) whose hashSpan is h, or undefined */
  getHashed(text: string, s: number, e: number, h: number): number | undefined {
    const { slots, mask, idMask } = this;
    const tag = h << this.idBits;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    for (;;) {
      const slot = slots[i]!;
      const id1 = slot & idMask;
      if (id1 === 0) return undefined;
      if ((slot & ~idMask) === tag && this.equalsSpan(id1 - 1, text, s, e)) return id1 - 1;
      i = (i + 1) & mask;
    }
  }

  /**
   * The ids of a merge read into `units`: units[0, split) and units[split, end) (hashSpan hashA
   * and hashB) go to halves[0] and halves[1], and the id of the whole units[0, end) is returned;
   * -1 for any that is not a token. `guess` is the id the whole most likely has (a merge list
   * runs through its tokens in id order): it and the next id are tried before the index. One
   * call with its loops written out, because the merge loop runs it 280k times, many of them
   * before V8 has compiled anything (see above).
   *
   * The whole is compared character by character; a half is the token with its hash and length
   * (characters are compared only where tokens may share that hash). That is the half itself
   * whenever the half is a token. A half that is not a token yet has a token's hash and length
   * (a broken file, and a 32-bit coincidence) is answered with that token: the merge is then no
   * merge of its ids, and MergeTable never applies it (see MergeTable.add). Not comparing the
   * halves' characters saves a scattered read of the pool per half, ~13 ms of llama3's load.
   */
  mergeIds(units: Uint16Array, split: number, end: number, hashA: number, hashB: number, guess: number, halves: Int32Array): number {
    const { slots, mask, idMask, idBits, shift, offsets, pool, present, hashes, sharedHashes } = this;
    const lengthB = end - split;
    for (let half = 0; half < 2; half++) {
      const s = half === 0 ? 0 : split;
      const length = half === 0 ? split : lengthB;
      const h = half === 0 ? hashA : hashB;
      const tag = h << idBits;
      let found = -1;
      for (let i = Math.imul(h, GOLDEN) >>> shift; ; i = (i + 1) & mask) {
        const slot = slots[i]!;
        if (slot === 0) break;
        if ((slot & ~idMask) !== tag) continue;
        const id = (slot & idMask) - 1;
        const o = offsets[id]!;
        if (hashes[id] !== h || offsets[id + 1]! - o !== length) continue;
        if (sharedHashes[h & 255] !== 0) {
          let k = 0;
          while (k < length && pool[o + k] === units[s + k]) k++;
          if (k !== length) continue;
        }
        found = id;
        break;
      }
      halves[half] = found;
    }
    const h = this.joinHashes(hashA, hashB, lengthB);
    for (let id = Math.max(guess, 0); id <= guess + 1 && id < present.length; id++) {
      const o = offsets[id]!;
      if (hashes[id] !== h || present[id] === 0 || offsets[id + 1]! - o !== end) continue;
      let k = 0;
      while (k < end && pool[o + k] === units[k]) k++;
      if (k === end) return id;
    }
    return this.idOfUnits(units, 0, end, h);
  }

  /** id of the token whose code units are units[s, e) and whose hashSpan is h, or -1 */
  idOfUnits(units: Uint16Array, s: number, e: number, h: number): number {
    const { slots, mask, idMask } = this;
    const tag = h << this.idBits;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    for (;;) {
      const slot = slots[i]!;
      const id1 = slot & idMask;
      if (id1 === 0) return -1;
      if ((slot & ~idMask) === tag && this.hasUnits(id1 - 1, units, s, e)) return id1 - 1;
      i = (i + 1) & mask;
    }
  }

  /** id of the token that is token(a) + token(b), or -1 (a and b must be ids with tokens) */
  concatId(a: number, b: number): number {
    const la = this.lengthOf(a);
    const lb = this.lengthOf(b);
    const h = this.joinHashes(this.hashes[a]!, this.hashes[b]!, lb);
    const { slots, mask, idMask } = this;
    const tag = h << this.idBits;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    for (;;) {
      const slot = slots[i]!;
      const id1 = slot & idMask;
      if (id1 === 0) return -1;
      if ((slot & ~idMask) === tag && this.isJoin(id1 - 1, a, la, b, lb)) return id1 - 1;
      i = (i + 1) & mask;
    }
  }

  /** id of the token that is code units [from, to) of token(m), or -1 */
  spanId(m: number, from: number, to: number): number {
    const { offsets, pool } = this;
    const s = offsets[m]! + from;
    const e = offsets[m]! + to;
    let h = 0;
    for (let i = s; i < e; i++) h = (Math.imul(h, HASH_P) + pool[i]!) | 0;
    return this.idOfUnits(pool, s, e, h);
  }

  /** token(m) === token(a) + token(b) (all three ids with tokens) */
  joins(m: number, a: number, b: number): boolean {
    return this.isJoin(m, a, this.lengthOf(a), b, this.lengthOf(b));
  }

  /** token(id) === token(a) + token(b), whose lengths are la and lb */
  private isJoin(id: number, a: number, la: number, b: number, lb: number): boolean {
    const offsets = this.offsets;
    const o = offsets[id]!;
    if (offsets[id + 1]! - o !== la + lb) return false;
    const pool = this.pool;
    const oa = offsets[a]!;
    for (let j = 0; j < la; j++) if (pool[o + j] !== pool[oa + j]) return false;
    const o2 = o + la;
    const ob = offsets[b]!;
    for (let j = 0; j < lb; j++) if (pool[o2 + j] !== pool[ob + j]) return false;
    return true;
  }

  /** token(id) === text[s, e), without making either string */
  equalsSpan(id: number, text: string, s: number, e: number): boolean {
    const o = this.offsets[id]!;
    const len = e - s;
    if (this.offsets[id + 1]! - o !== len) return false;
    const pool = this.pool;
    for (let j = 0; j < len; j++) if (pool[o + j] !== text.charCodeAt(s + j)) return false;
    return true;
  }

  /** token(id) has the code units units[s, e) (id must be below length) */
  hasUnits(id: number, units: Uint16Array, s: number, e: number): boolean {
    const o = this.offsets[id]!;
    const len = e - s;
    if (this.offsets[id + 1]! - o !== len || this.present[id] === 0) return false;
    const pool = this.pool;
    for (let j = 0; j < len; j++) if (pool[o + j] !== units[s + j]) return false;
    return true;
  }

  /** Indexes every id; stops at the first whose token an earlier id has, and returns it (-1 when none). */
  private insertAll(): number {
    for (let id = this.insertUntilTag(0); id >= 0; id = this.insertUntilTag(id + 1)) if (this.insertChecked(id)) return id;
    return -1;
  }

  /**
   * Indexes ids from `from` on while no slot on an id's probe holds its tag (nearly always);
   * returns the first id whose probe meets its tag, not yet indexed (-1 when all are in). The
   * rare case is left to insertChecked, out of this loop: a branch V8 has not seen taken when it
   * compiles the loop would throw the compiled loop away when it is.
   */
  private insertUntilTag(from: number): number {
    const { slots, mask, shift, hashes, present, idMask, idBits } = this;
    for (let id = from; id < present.length; id++) {
      if (present[id] === 0) continue;
      const h = hashes[id]!;
      const tag = h << idBits;
      let i = Math.imul(h, GOLDEN) >>> shift;
      for (;;) {
        const slot = slots[i]!;
        if (slot === 0) break;
        if ((slot & ~idMask) === tag) return id;
        i = (i + 1) & mask;
      }
      slots[i] = tag | (id + 1);
    }
    return -1;
  }

  /** Indexes `id`, comparing it with every token on its probe that has its hash; true (and `id` left out) when one is the same token. */
  private insertChecked(id: number): boolean {
    const { offsets, pool, slots, mask, hashes, idMask } = this;
    const h = hashes[id]!;
    const tag = h << this.idBits;
    let i = Math.imul(h, GOLDEN) >>> this.shift;
    for (;;) {
      const slot = slots[i]!;
      if (slot === 0) break;
      const other = (slot & idMask) - 1;
      if ((slot & ~idMask) === tag && hashes[other] === h) {
        if (sameCodes(pool, offsets[other]!, offsets[other + 1]!, offsets[id]!, offsets[id + 1]!)) return true;
        this.sharedHashes[h & 255] = 1;
      }
      i = (i + 1) & mask;
    }
    slots[i] = tag | (id + 1);
    return false;
  }

  /** The indexed id with the same token as `id`. */
  private idOfSameToken(id: number): number {
    return this.getSpan(this.token(id)!, 0, this.lengthOf(id))!;
  }
}

function countOnes(a: Uint8Array): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) n += a[i]!;
  return n;
}

/** HASH_P^k for k = 0..n */
function powersUpTo(n: number): Int32Array {
  const powers = new Int32Array(n + 1);
  powers[0] = 1;
  for (let k = 1; k <= n; k++) powers[k] = Math.imul(powers[k - 1]!, HASH_P);
  return powers;
}

/** VocabTable.hashSpan of each present id's token */
function hashTokens(pool: Uint16Array, offsets: Int32Array, present: Uint8Array): Int32Array {
  const hashes = new Int32Array(present.length);
  for (let id = 0; id < present.length; id++) {
    if (present[id] === 0) continue;
    let h = 0;
    for (let i = offsets[id]!, e = offsets[id + 1]!; i < e; i++) h = (Math.imul(h, HASH_P) + pool[i]!) | 0;
    hashes[id] = h;
  }
  return hashes;
}

/** pool[s1, e1) and pool[s2, e2) hold the same code units */
function sameCodes(pool: Uint16Array, s1: number, e1: number, s2: number, e2: number): boolean {
  if (e1 - s1 !== e2 - s2) return false;
  for (let j = 0; j < e1 - s1; j++) if (pool[s1 + j] !== pool[s2 + j]) return false;
  return true;
}

/** The string of code units pool[s, e). */
function stringOfCodes(pool: Uint16Array, s: number, e: number): string {
  if (e - s <= 16) {
    let out = "";
    for (let i = s; i < e; i++) out += String.fromCharCode(pool[i]!);
    return out;
  }
  // in chunks: spreading a large array overflows the stack
  const parts: string[] = [];
  for (let i = s; i < e; i += 8192)
    parts.push(String.fromCharCode.apply(null, pool.subarray(i, Math.min(e, i + 8192)) as unknown as number[]));
  return parts.join("");
}
