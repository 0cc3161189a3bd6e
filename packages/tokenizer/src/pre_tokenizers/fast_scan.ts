/**
 * Hand-written matchers for the pre-tokenization regexes almost every byte-level tokenizer uses
 * (GPT-2's, and the cl100k / Llama 3 / Qwen family). They return exactly the pieces the regex
 * would (tests compare them on the Brown corpus, hard cases and random strings) without the
 * regex engine's match objects.
 */

const L = 1;
const N = 2;
const WS = 3;
const OTHER = 0;

const IS_L = /\p{L}/u;
const IS_N = /\p{N}/u;
const IS_WS = /\p{White_Space}/u;

function classifySlow(cp: number): number {
  const s = String.fromCodePoint(cp);
  if (IS_L.test(s)) return L;
  if (IS_N.test(s)) return N;
  if (IS_WS.test(s)) return WS;
  return OTHER;
}

/** class of each BMP code unit, 255 = not computed yet */
const BMP = new Uint8Array(65536).fill(255);
const ASTRAL = new Map<number, number>();

/** Class of the code point at i; its width (1 or 2) is left in `width`. */
let width = 1;
function classAt(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
    const d = text.charCodeAt(i + 1);
    if (d >= 0xdc00 && d <= 0xdfff) {
      width = 2;
      const cp = ((c - 0xd800) << 10) + (d - 0xdc00) + 0x10000;
      let k = ASTRAL.get(cp);
      if (k === undefined) ASTRAL.set(cp, (k = classifySlow(cp)));
      return k;
    }
  }
  width = 1;
  let k = BMP[c]!;
  if (k === 255) BMP[c] = k = classifySlow(c);
  return k;
}

function runEnd(text: string, i: number, n: number, cls: number): number {
  while (i < n) {
    if (classAt(text, i) !== cls) break;
    i += width;
  }
  return i;
}

/** `\s+(?!\S)|\s+` from i (a whitespace character): the run, less its last character when more follows. */
function whitespaceEnd(text: string, i: number, n: number): number {
  const k = runEnd(text, i, n, WS);
  if (k === n || k - i < 2) return k;
  return k - 1; // every White_Space character is one UTF-16 unit
}

export type PieceScanner = (text: string, i: number, n: number) => number;

/** 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
export const scanGpt2: PieceScanner = (text, i, n) => {
  const c = text.charCodeAt(i);
  if (c === 39 && i + 1 < n) {
    const d = text.charCodeAt(i + 1);
    if (d === 115 || d === 116 || d === 109 || d === 100) return i + 2; // s t m d
    if (i + 2 < n) {
      const e = text.charCodeAt(i + 2);
      if ((d === 114 && e === 101) || (d === 118 && e === 101) || (d === 108 && e === 108)) return i + 3; // re ve ll
    }
  }
  const j = c === 32 ? i + 1 : i;
  if (j < n) {
    const k = classAt(text, j);
    if (k !== WS) return runEnd(text, j + width, n, k);
  }
  return whitespaceEnd(text, i, n);
};

function lowerAscii(c: number, unicodeFold: boolean): number {
  if (c >= 65 && c <= 90) return c + 32;
  if (unicodeFold && c === 0x17f) return 115; // ſ folds to s
  if (unicodeFold && c === 0x212a) return 107; // Kelvin sign folds to k
  return c;
}

/**
 * (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,D}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * (cl100k_base and Llama 3 with D = 3, Qwen with D = 1).
 */
export function makeCl100kScanner(maxDigits: number, unicodeFold: boolean): PieceScanner {
  return (text, i, n) => {
    const c = text.charCodeAt(i);
    if (c === 39 && i + 1 < n) {
      const d = lowerAscii(text.charCodeAt(i + 1), unicodeFold);
      if (d === 115 || d === 116 || d === 109 || d === 100) return i + 2;
      if (i + 2 < n) {
        const e = lowerAscii(text.charCodeAt(i + 2), unicodeFold);
        if ((d === 114 && e === 101) || (d === 118 && e === 101) || (d === 108 && e === 108)) return i + 3;
      }
    }
    const k = classAt(text, i);
    const w = width;
    if (k === L) return runEnd(text, i + w, n, L);
    if (k !== N && c !== 13 && c !== 10 && i + w < n && classAt(text, i + w) === L) return runEnd(text, i + w + width, n, L);
    if (k === N) {
      let j = i + w;
      for (let m = 1; m < maxDigits && j < n && classAt(text, j) === N; m++) j += width;
      return j;
    }
    const j = c === 32 ? i + 1 : i;
    if (j < n && classAt(text, j) === OTHER) {
      let e = runEnd(text, j + width, n, OTHER);
      while (e < n) {
        const d = text.charCodeAt(e);
        if (d !== 13 && d !== 10) break;
        e++;
      }
      return e;
    }
    // k is WS here
    const end = runEnd(text, i, n, WS);
    for (let p = end - 1; p >= i; p--) {
      const d = text.charCodeAt(p);
      if (d === 13 || d === 10) return p + 1;
    }
    if (end === n || end - i < 2) return end;
    return end - 1;
  };
}

const GPT2_SOURCES = new Set(["'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"]);
const CL100K_SOURCES = new Map<string, number>([
  [
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+",
    3,
  ],
  ["(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+", 1],
  ["'(?i:[sdmt]|ll|ve|re)|[^\\r\\n\\p{L}\\p{N}]?+\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]++[\\r\\n]*|\\s*[\\r\\n]|\\s+(?!\\S)|\\s+", 3],
]);

/** A hand-written scanner equivalent to `pattern`, or null when there is none. */
export function scannerFor(pattern: string, caseFold: "ascii" | "unicode"): PieceScanner | null {
  if (GPT2_SOURCES.has(pattern)) return scanGpt2;
  const digits = CL100K_SOURCES.get(pattern);
  return digits === undefined ? null : makeCl100kScanner(digits, caseFold === "unicode");
}
