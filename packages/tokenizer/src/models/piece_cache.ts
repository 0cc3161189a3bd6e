/**
 * Cache of pre-token -> ids keyed by a span of the input text, so a hit needs neither a
 * substring nor a string hash from the engine: the span is hashed and compared in place.
 */
export class PieceCache {
  private hashes: Int32Array;
  private keys: (string | undefined)[];
  private values: (number | number[])[];
  private mask: number;
  private size = 0;
  /** the table grows up to 2^maxBits slots; past half of that it is cleared */
  constructor(private readonly maxBits = 18) {
    this.mask = 0;
    this.hashes = new Int32Array(0);
    this.keys = [];
    this.values = [];
    this.allocate(1 << 12);
  }

  private allocate(cap: number): void {
    this.mask = cap - 1;
    this.hashes = new Int32Array(cap);
    this.keys = new Array(cap).fill(undefined);
    this.values = new Array(cap).fill(0);
    this.size = 0;
  }

  static hash(text: string, s: number, e: number): number {
    let h = 0x811c9dc5 ^ (e - s);
    for (let i = s; i < e; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h;
  }

  /** The cached ids of text[s, e) with hash h, or undefined. */
  get(text: string, s: number, e: number, h: number): number | number[] | undefined {
    const len = e - s;
    const mask = this.mask;
    const keys = this.keys;
    let i = h & mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (this.hashes[i] === h && k.length === len) {
        let j = 0;
        while (j < len && k.charCodeAt(j) === text.charCodeAt(s + j)) j++;
        if (j === len) return this.values[i];
      }
      i = (i + 1) & mask;
    }
  }

  set(key: string, h: number, value: number | number[]): void {
    if (this.size * 2 >= this.mask + 1) {
      if (this.mask + 1 < 1 << this.maxBits) this.grow();
      else this.clear();
    }
    const mask = this.mask;
    let i = h & mask;
    while (this.keys[i] !== undefined) i = (i + 1) & mask;
    this.keys[i] = key;
    this.hashes[i] = h;
    this.values[i] = value;
    this.size++;
  }

  private grow(): void {
    const { keys, values, hashes } = this;
    this.allocate((this.mask + 1) * 2);
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.set(keys[i]!, hashes[i]!, values[i]!);
  }

  clear(): void {
    this.keys.fill(undefined);
    this.values.fill(0);
    this.size = 0;
  }
}
