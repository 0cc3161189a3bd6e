/**
 * Token string -> id, hashed and compared in place: lookups of a span of a larger string, or
 * of the concatenation of two spans, need no substring. This is what makes loading 280k merges
 * fast (each merge looks up both halves and their concatenation).
 */
export class VocabTable {
  private hashes: Int32Array;
  private ids: Int32Array;
  private keys: (string | undefined)[];
  private mask: number;
  size = 0;

  constructor(expected = 1024) {
    let cap = 16;
    while (cap < expected * 2) cap <<= 1;
    this.mask = cap - 1;
    this.hashes = new Int32Array(cap);
    this.ids = new Int32Array(cap);
    this.keys = new Array(cap);
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
    const h = VocabTable.hashSpan(text, s, e);
    const len = e - s;
    const keys = this.keys;
    let i = h & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (this.hashes[i] === h && k.length === len) {
        let j = 0;
        while (j < len && k.charCodeAt(j) === text.charCodeAt(s + j)) j++;
        if (j === len) return this.ids[i];
      }
      i = (i + 1) & this.mask;
    }
  }

  /** id of text[s1, e1) + text[s2, e2), or undefined */
  getConcat(text: string, s1: number, e1: number, s2: number, e2: number): number | undefined {
    let h = 0x811c9dc5;
    for (let i = s1; i < e1; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    for (let i = s2; i < e2; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
    const l1 = e1 - s1;
    const len = l1 + (e2 - s2);
    const keys = this.keys;
    let i = h & this.mask;
    for (;;) {
      const k = keys[i];
      if (k === undefined) return undefined;
      if (this.hashes[i] === h && k.length === len) {
        let j = 0;
        while (j < l1 && k.charCodeAt(j) === text.charCodeAt(s1 + j)) j++;
        if (j === l1) {
          while (j < len && k.charCodeAt(j) === text.charCodeAt(s2 + j - l1)) j++;
          if (j === len) return this.ids[i];
        }
      }
      i = (i + 1) & this.mask;
    }
  }

  /** Adds `token` (or gives it a new id); returns the previous id or undefined. */
  set(token: string, id: number): number | undefined {
    if ((this.size + 1) * 2 > this.mask + 1) this.grow();
    const h = VocabTable.hashSpan(token, 0, token.length);
    let i = h & this.mask;
    for (;;) {
      const k = this.keys[i];
      if (k === undefined) break;
      if (this.hashes[i] === h && k === token) {
        const prev = this.ids[i];
        this.ids[i] = id;
        return prev;
      }
      i = (i + 1) & this.mask;
    }
    this.keys[i] = token;
    this.hashes[i] = h;
    this.ids[i] = id;
    this.size++;
    return undefined;
  }

  private grow(): void {
    const { keys, ids } = this;
    const cap = (this.mask + 1) * 2;
    this.mask = cap - 1;
    this.hashes = new Int32Array(cap);
    this.ids = new Int32Array(cap);
    this.keys = new Array(cap);
    this.size = 0;
    for (let i = 0; i < keys.length; i++) if (keys[i] !== undefined) this.set(keys[i]!, ids[i]!);
  }
}
