/** Tokens matched in the text before the model sees it: special tokens and other added tokens. */
export interface AddedToken {
  id: number;
  content: string;
  /** special tokens are skipped by decode({skipSpecialTokens}) and can be disallowed in encode */
  special: boolean;
  /** also matched after normalization (else matched in the raw text) */
  normalized: boolean;
  /** swallow whitespace on the left / right */
  lstrip: boolean;
  rstrip: boolean;
  /** only match when not inside a word */
  singleWord: boolean;
}

interface TrieNode {
  next: Map<number, TrieNode>;
  token: AddedToken | null;
}

const WORD_CHAR = /[\p{Alphabetic}\p{M}\p{Nd}\p{Pc}\p{Join_Control}]/u;
const SPACE = /\p{White_Space}/u;

/** A text section and, when it is an added token, that token. */
export type Section = string | AddedToken;

/** Finds added tokens in text, leftmost first and longest at a position, as Hugging Face does. */
export class AddedTokenMatcher {
  private root: TrieNode = { next: new Map(), token: null };
  private first = new Uint8Array(65536);
  private count = 0;

  add(token: AddedToken): void {
    const s = token.content;
    if (s.length === 0) return;
    let node = this.root;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      let n = node.next.get(c);
      if (!n) {
        n = { next: new Map(), token: null };
        node.next.set(c, n);
      }
      node = n;
    }
    node.token = token;
    this.first[s.charCodeAt(0)] = 1;
    this.count++;
  }

  get empty(): boolean {
    return this.count === 0;
  }

  /**
   * Splits `text` into plain text and added tokens. `allowSpecial` false leaves special tokens
   * as plain text (tiktoken's encode_ordinary).
   */
  split(text: string, allowSpecial: boolean, out: Section[]): void {
    if (this.count === 0) {
      if (text.length > 0) out.push(text);
      return;
    }
    const first = this.first;
    let start = 0; // start of pending plain text
    const n = text.length;
    let i = 0;
    while (i < n) {
      if (first[text.charCodeAt(i)] === 0) {
        i++;
        continue;
      }
      let node: TrieNode | undefined = this.root;
      let match: AddedToken | null = null;
      let end = i;
      for (let j = i; j < n; j++) {
        node = node.next.get(text.charCodeAt(j));
        if (!node) break;
        if (node.token && (allowSpecial || !node.token.special) && this.wordOk(node.token, text, i, j + 1)) {
          match = node.token;
          end = j + 1;
        }
      }
      if (!match) {
        i++;
        continue;
      }
      let s = i;
      let e = end;
      if (match.lstrip) while (s > start && SPACE.test(text[s - 1]!)) s--;
      if (match.rstrip) while (e < n && SPACE.test(text[e]!)) e++;
      if (s > start) out.push(text.slice(start, s));
      out.push(match);
      start = e;
      i = e;
    }
    if (start < n) out.push(text.slice(start));
  }

  private wordOk(t: AddedToken, text: string, s: number, e: number): boolean {
    if (!t.singleWord) return true;
    const before = s > 0 && WORD_CHAR.test(text[s - 1]!);
    const after = e < text.length && WORD_CHAR.test(text[e]!);
    return !before && !after;
  }
}
