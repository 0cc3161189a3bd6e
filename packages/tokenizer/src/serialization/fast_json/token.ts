import { HASH_P } from "../../models/vocab_table.js";
import { fallback } from "./scan.js";

/**
 * What the last readToken call read: [0] the index in `out` after its last code unit, [1] the
 * VocabTable hash of its code units.
 */
export const TOKEN = new Int32Array(2);

/** The code unit of \x for the one-letter JSON escapes, -1 for the rest. */
const ESCAPED = new Int32Array(128).fill(-1);
for (const [letter, unit] of [
  ['"', 34],
  ["\\", 92],
  ["/", 47],
  ["b", 8],
  ["f", 12],
  ["n", 10],
  ["r", 13],
  ["t", 9],
] as const)
  ESCAPED[letter.charCodeAt(0)] = unit;

/**
 * Reads the characters of a JSON string from its UTF-8 bytes, starting at b[j] (just past the
 * opening quote), as the UTF-16 code units a JS string would hold: into out[o...], hashed on
 * the way (TOKEN says how many and the hash). Stops at the closing quote, or at a byte equal to
 * `stop` (32 splits an "a b" merge at its space; -1 reads to the quote), and returns the index
 * of the byte it stopped at; -1 when `out` was too short (TOKEN[0] says how long it had to be:
 * the caller grows it and reads the token again). The vocab and the merges are both read through here, so V8 compiles this once.
 *
 * Anything not plainly valid (a control character, a bad escape, bytes that are not UTF-8,
 * an escaped space where `stop` is a space, the end of the bytes) falls back to the general
 * reader, which reports it or reads it.
 */
export function readToken(b: Uint8Array, j: number, out: Uint16Array, o: number, stop: number): number {
  let h = 0;
  let c = b[j]!;
  while (c !== 34 && c !== stop) {
    let u: number;
    if (c < 0x80) {
      if (c === 92) {
        const e = b[j + 1]!;
        if (e === 117) {
          u = hex4(b, j + 2);
          j += 6;
        } else {
          u = e < 128 ? ESCAPED[e]! : -1;
          j += 2;
        }
        if (u < 0 || u === stop) fallback();
      } else {
        if (c < 32) fallback();
        u = c;
        j++;
      }
    } else if (c < 0xe0) {
      const c1 = b[j + 1]!;
      if (c < 0xc2 || (c1 & 0xc0) !== 0x80) fallback();
      u = ((c & 0x1f) << 6) | (c1 & 0x3f);
      j += 2;
    } else if (c < 0xf0) {
      const c1 = b[j + 1]!;
      const c2 = b[j + 2]!;
      u = ((c & 0x0f) << 12) | ((c1 & 0x3f) << 6) | (c2 & 0x3f);
      // not overlong, not a surrogate (UTF-8 cannot hold those)
      if ((c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || u < 0x800 || (u >= 0xd800 && u < 0xe000)) fallback();
      j += 3;
    } else {
      // four bytes: a code point past U+FFFF, two code units
      const c1 = b[j + 1]!;
      const c2 = b[j + 2]!;
      const c3 = b[j + 3]!;
      const cp = ((c & 0x07) << 18) | ((c1 & 0x3f) << 12) | ((c2 & 0x3f) << 6) | (c3 & 0x3f);
      if (c > 0xf4 || (c1 & 0xc0) !== 0x80 || (c2 & 0xc0) !== 0x80 || (c3 & 0xc0) !== 0x80 || cp < 0x10000 || cp > 0x10ffff) fallback();
      const high = 0xd800 + ((cp - 0x10000) >> 10);
      h = (Math.imul(h, HASH_P) + high) | 0;
      out[o++] = high;
      u = 0xdc00 + ((cp - 0x10000) & 0x3ff);
      j += 4;
    }
    h = (Math.imul(h, HASH_P) + u) | 0;
    out[o++] = u;
    c = b[j]!;
  }
  TOKEN[0] = o;
  TOKEN[1] = h;
  // a typed array drops writes past its end, so a token too long for `out` is noticed here,
  // once, rather than checked for at every code unit
  return o > out.length ? -1 : j;
}

/** The four hex digits at b[j] as a number (a bad digit falls back). */
function hex4(b: Uint8Array, j: number): number {
  let v = 0;
  for (let k = 0; k < 4; k++) {
    const c = b[j + k]!;
    const d = c >= 48 && c <= 57 ? c - 48 : c >= 97 && c <= 102 ? c - 87 : c >= 65 && c <= 70 ? c - 55 : -1;
    if (d < 0) fallback();
    v = v * 16 + d;
  }
  return v;
}
