/**
 * Open-addressing hash table from a pair of token ids (a, b) to the merge that joins them:
 * its rank (lower merges first) and the id of the merged token. Each slot keeps a, b, rank and
 * result side by side in one Int32Array, so a lookup touches one cache line. A slot stores
 * a + 1, so a fresh (zero-filled) array is empty.
 */
export class PairTable {
  private slots: Int32Array;
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    // filled to at most 2/3: linear probing stays short, and the table stays small enough to
    // build fast (its pages are the largest fresh memory a tokenizer.json load touches)
    while (cap * 2 < expected * 3) cap <<= 1;
    this.mask = cap - 1;
    this.slots = PairTable.empty(cap);
  }

  private static empty(cap: number): Int32Array {
    return new Int32Array(cap * 4);
  }

  private static hash(a: number, b: number): number {
    let h = Math.imul(a, 0x27d4eb2d) ^ Math.imul(b + 0x9e3779b9, 0x165667b1);
    h ^= h >>> 15;
    h = Math.imul(h, 0x85ebca6b);
    return h ^ (h >>> 13);
  }

  /** Slot of the pair, or -1 when the pair does not merge; read it with rank() and result(). */
  find(a: number, b: number): number {
    const slots = this.slots;
    const mask = this.mask;
    const a1 = a + 1;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const o = i << 2;
      const ka = slots[o]!;
      if (ka === a1 && slots[o + 1] === b) return o;
      if (ka === 0) return -1;
      i = (i + 1) & mask;
    }
  }

  rank(slot: number): number {
    return this.slots[slot + 2]!;
  }

  result(slot: number): number {
    return this.slots[slot + 3]!;
  }

  /** Adds or replaces the merge of (a, b). */
  set(a: number, b: number, rank: number, result: number): void {
    if ((this.size + 1) * 3 > (this.mask + 1) * 2) this.grow();
    const slots = this.slots;
    const mask = this.mask;
    const a1 = a + 1;
    let i = PairTable.hash(a, b) & mask;
    for (;;) {
      const o = i << 2;
      const ka = slots[o]!;
      if (ka === 0) {
        slots[o] = a1;
        slots[o + 1] = b;
        this.size++;
      } else if (ka !== a1 || slots[o + 1] !== b) {
        i = (i + 1) & mask;
        continue;
      }
      slots[o + 2] = rank;
      slots[o + 3] = result;
      return;
    }
  }

  /** Calls fn for every stored merge. */
  forEach(fn: (a: number, b: number, rank: number, result: number) => void): void {
    const s = this.slots;
    for (let o = 0; o < s.length; o += 4) if (s[o] !== 0) fn(s[o]! - 1, s[o + 1]!, s[o + 2]!, s[o + 3]!);
  }

  private grow(): void {
    const old = this.slots;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.slots = PairTable.empty(cap);
    this.size = 0;
    for (let o = 0; o < old.length; o += 4) if (old[o] !== 0) this.set(old[o]! - 1, old[o + 1]!, old[o + 2]!, old[o + 3]!);
  }
}
