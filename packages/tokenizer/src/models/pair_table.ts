/**
 * Open-addressing hash table from a pair of token ids (a, b) to the merge that joins them:
 * its rank (lower merges first) and the id of the merged token. Much faster than a Map keyed
 * by strings in the BPE inner loop.
 */
export class PairTable {
  private keysA: Int32Array;
  private keysB: Int32Array;
  ranks: Int32Array;
  results: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.mask = cap - 1;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.ranks = new Int32Array(cap);
    this.results = new Int32Array(cap);
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x27d4eb2d) ^ Math.imul(b + 0x9e3779b9, 0x165667b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
  }

  /** Slot of the pair, or -1 when the pair does not merge. */
  find(a: number, b: number): number {
    const keysA = this.keysA;
    const mask = this.mask;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const ka = keysA[i]!;
      if (ka === a && this.keysB[i] === b) return i;
      if (ka === -1) return -1;
      i = (i + 1) & mask;
    }
  }

  /** Adds or replaces the merge of (a, b). */
  set(a: number, b: number, rank: number, result: number): void {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const mask = this.mask;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const ka = this.keysA[i]!;
      if (ka === -1) {
        this.keysA[i] = a;
        this.keysB[i] = b;
        this.size++;
        break;
      }
      if (ka === a && this.keysB[i] === b) break;
      i = (i + 1) & mask;
    }
    this.ranks[i] = rank;
    this.results[i] = result;
  }

  /** Calls fn for every stored merge. */
  forEach(fn: (a: number, b: number, rank: number, result: number) => void): void {
    for (let i = 0; i <= this.mask; i++) if (this.keysA[i] !== -1) fn(this.keysA[i]!, this.keysB[i]!, this.ranks[i]!, this.results[i]!);
  }

  private grow(): void {
    const old = { a: this.keysA, b: this.keysB, r: this.ranks, m: this.results };
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.keysA = new Int32Array(cap).fill(-1);
    this.keysB = new Int32Array(cap);
    this.ranks = new Int32Array(cap);
    this.results = new Int32Array(cap);
    this.size = 0;
    for (let i = 0; i < old.a.length; i++) if (old.a[i] !== -1) this.set(old.a[i]!, old.b[i]!, old.r[i]!, old.m[i]!);
  }
}
