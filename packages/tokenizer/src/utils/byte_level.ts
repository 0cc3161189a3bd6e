/**
 * GPT-2's reversible mapping between bytes and printable Unicode characters:
 * printable Latin-1 bytes map to themselves, the other 68 bytes to U+0100 onwards.
 */
function buildByteToChar(): string[] {
  const printable: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) printable.push(b);
  for (let b = 0xa1; b <= 0xac; b++) printable.push(b);
  for (let b = 0xae; b <= 0xff; b++) printable.push(b);
  const table: string[] = new Array(256);
  for (const b of printable) table[b] = String.fromCharCode(b);
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (table[b] === undefined) table[b] = String.fromCharCode(256 + n++);
  }
  return table;
}

/** byte (0..255) -> its character in byte-level token strings */
export const BYTE_TO_CHAR: readonly string[] = buildByteToChar();

/** UTF-16 code unit -> byte, or -1 for characters outside the mapping */
export const CHAR_TO_BYTE: Int16Array = (() => {
  const t = new Int16Array(0x144).fill(-1);
  BYTE_TO_CHAR.forEach((c, b) => (t[c.charCodeAt(0)] = b));
  return t;
})();

/**
 * The bytes a byte-level token string stands for. Characters outside the byte map (as in added
 * tokens such as "<|endoftext|>" written with plain characters) contribute their UTF-8 bytes,
 * as Hugging Face's ByteLevel decoder does for a token it cannot map.
 */
export function byteLevelTokenBytes(token: string): Uint8Array {
  const out = new Uint8Array(token.length);
  for (let i = 0; i < token.length; i++) {
    const c = token.charCodeAt(i);
    const b = c < CHAR_TO_BYTE.length ? CHAR_TO_BYTE[c]! : -1;
    if (b < 0) return utf8Encode(token);
    out[i] = b;
  }
  return out;
}

/** Byte-level token string for raw bytes. */
export function bytesToByteLevel(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i++) s += BYTE_TO_CHAR[bytes[i]!];
  return s;
}

const encoder = new TextEncoder();
export function utf8Encode(text: string): Uint8Array {
  return encoder.encode(text);
}

/** Byte-level string of a piece of text (each UTF-8 byte replaced by its character). */
export function textToByteLevel(text: string): string {
  let ascii = true;
  for (let i = 0; i < text.length; i++) {
    if (text.charCodeAt(i) >= 0x80) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    let s = "";
    for (let i = 0; i < text.length; i++) s += BYTE_TO_CHAR[text.charCodeAt(i)];
    return s;
  }
  return bytesToByteLevel(encoder.encode(text));
}
