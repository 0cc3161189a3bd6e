import { TokenizerError } from "./errors.js";

// UTF-8 text going in: checking a string can be encoded, and decoding bytes with an error that
// says where they stop being UTF-8.

/** strips a byte order mark, as JSON text read from a file may start with one */
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The string has no lone surrogate (so UTF-8 can hold it). */
export const isWellFormed: (s: string) => boolean =
  typeof (String.prototype as { isWellFormed?: unknown }).isWellFormed === "function"
    ? (s) => (s as unknown as { isWellFormed(): boolean }).isWellFormed()
    : (s) => !/\p{Cs}/u.test(s);

/** The text of UTF-8 bytes; bytes that are not UTF-8 are an error naming where. */
export function utf8Text(bytes: Uint8Array, file: string): string {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw new TokenizerError(`${file}: expected UTF-8 text, found bytes that are not UTF-8 at byte ${firstBadUtf8(bytes)}`);
  }
}

/** Index of the first byte that does not belong to a valid UTF-8 sequence (bytes.length if none). */
function firstBadUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    const n = c < 0x80 ? 1 : c >= 0xc2 && c < 0xe0 ? 2 : c >= 0xe0 && c < 0xf0 ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
    if (n === 0) return i;
    // valid sequence: the right number of continuation bytes and a value it may hold
    let cp = n === 1 ? c : c & (0xff >> (n + 1));
    for (let k = 1; k < n; k++) {
      const d = b[i + k];
      if (d === undefined || (d & 0xc0) !== 0x80) return i;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n === 3 && (cp < 0x800 || (cp >= 0xd800 && cp < 0xe000))) || (n === 4 && (cp < 0x10000 || cp > 0x10ffff))) return i;
    i += n;
  }
  return b.length;
}
