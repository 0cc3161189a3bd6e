/**
 * Token string -> id, hashed and compared in place: lookups of a span of a larger string, or
 * of the concatenation of two spans, need no substring. This is what makes loading 280k merges
 * fast (each merge looks up both halves and their concatenation).
 */
export class VocabTable {
  /** per slot: hash, id (side by side: one cache line per probe) */
  private meta: Int32Array;
  private keys: (string | undefined)[];
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.mask = cap - 1;
    this.meta = new Int32Array(cap * 2);
    this.keys = new Array(cap).fill(undefined);
  }

  /** Table of vocab[id] -> id. */
  static from(vocab: readonly string[]): VocabTable {
    const t = new VocabTable(vocab.length);
    vocab.forEach((tok, id) => t.set(tok, id));
    return t;
  }

  static hashSpan(text: string, s: number, e: number): number {
    let h = 0x811c9dc5;
    for (let i = s; i < e; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return h;
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

  /** id of text[s, e) whose hashSpan is h, or undefined */
  getHashed(text: string, s: number, e: number, h: number): number | undefined {
    const len = e - s;
    const keys = this.keys;
    let i = h & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (this.meta[i << 1] === h && k.length === len) {
        let j = 0;
        while (j < len && k.charCodeAt(j) === text.charCodeAt(s + j)) j++;
        if (j === len) return this.meta[(i << 1) + 1];
      }
      i = (i + 1) & this.mask;
    }
  }

  /** id of text[s1, e1) + text[s2, e2), or undefined */
  getConcat(text: string, s1: number, e1: number, s2: number, e2: number): number | undefined {
    let h = 0x811c9dc5;
    for (let i = s1; i < e1; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    for (let i = s2; i < e2; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    return this.getConcatHashed(text, s1, e1, s2, e2, h);
  }

  /** getConcat with the hash of the concatenation already known */
  getConcatHashed(text: string, s1: number, e1: number, s2: number, e2: number, h: number): number | undefined {
    const l1 = e1 - s1;
    const len = l1 + (e2 - s2);
    const keys = this.keys;
    let i = h & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (this.meta[i << 1] === h && k.length === len) {
        let j = 0;
        while (j < l1 && k.charCodeAt(j) === text.charCodeAt(s1 + j)) j++;
        if (j === l1) {
          while (j < len && k.charCodeAt(j) === text.charCodeAt(s2 + j - l1)) j++;
          if (j === len) return this.meta[(i << 1) + 1];
        }
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Adds `token` (or gives it a new id); returns the previous id or undefined. */
  set(token: string, id: number): number | undefined {
    return this.setHashed(token, VocabTable.hashSpan(token, 0, token.length), id);
  }

  /** set() with the token's hashSpan already known */
  setHashed(token: string, h: number, id: number): number | undefined {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    let i = h & this.mask;
    for (;;) {
      const k = this.keys[i];
      if (k === undefined) break;
      if (this.meta[i << 1] === h && k === token) {
        const prev = this.meta[(i << 1) + 1];
        this.meta[(i << 1) + 1] = id;
        return prev;
      }
      i = (i + 1) & this.mask;
    }
    this.keys[i] = token;
    this.meta[i << 1] = h;
    this.meta[(i << 1) + 1] = id;
    this.size++;
    return undefined;
  }

  private grow(): void {
    const { keys, meta } = this;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.meta = new Int32Array(cap * 2);
    this.keys = new Array(cap).fill(undefined);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.set(keys[i]!, meta[(i << 1) + 1]!);
  }
}
