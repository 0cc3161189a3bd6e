// Small pieces the fast tokenizer.json reader is made of. They work on the file's UTF-8 bytes
// at an index and are module-level functions of (bytes, i), so V8 compiles each once, small.
// JSON's structural characters are ASCII, and no byte of a multi-byte UTF-8 character is below
// 0x80, so the structure can be found byte by byte.

/** Thrown when the bytes are not shaped as the fast reader expects; the caller then uses JSON.parse. */
export class Fallback extends Error {}

export function fallback(): never {
  throw new Fallback();
}

/** fatal: bytes that are not UTF-8 are the general reader's to report */
const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** The text of b[s, e) (not valid UTF-8: fall back). */
export function textAt(b: Uint8Array, s: number, e: number): string {
  try {
    return utf8.decode(b.subarray(s, e));
  } catch {
    return fallback();
  }
}

/** The JSON value written in b[s, e) (malformed: fall back, so the general reader names the error). */
export function jsonAt(b: Uint8Array, s: number, e: number): unknown {
  return parseOrFallback(textAt(b, s, e));
}

/** JSON.parse(text), falling back when it is malformed. */
export function parseOrFallback(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return fallback();
  }
}

/** Index of the first non-whitespace byte at or after i. */
export function skipWs(b: Uint8Array, i: number): number {
  const n = b.length;
  while (i < n) {
    const c = b[i]!;
    if (c === 32 || c === 10 || c === 13 || c === 9) i++;
    else break;
  }
  return i;
}

/** Index of the closing quote of the string whose opening quote is at i. */
export function endOfString(b: Uint8Array, i: number): number {
  // the next quote, found natively, closes the string unless an odd run of backslashes escapes it
  for (let q = b.indexOf(34, i + 1); q >= 0; q = b.indexOf(34, q + 1)) {
    let k = q - 1;
    while (b[k] === 92) k--;
    if ((q - k) % 2 === 1) return q;
  }
  return fallback();
}

/** The value of the string literal b[i..e] (quotes included). */
export function stringAt(b: Uint8Array, i: number, e: number): string {
  for (let j = i + 1; j < e; j++) if (b[j] === 92) return jsonAt(b, i, e + 1) as string;
  return textAt(b, i + 1, e);
}

/** Index just past the JSON value starting at i (not validated: jsonAt of the span does that). */
export function skipValue(b: Uint8Array, i: number): number {
  const n = b.length;
  const c = b[i];
  if (c === 34) return endOfString(b, i) + 1;
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < n; j++) {
      const d = b[j]!;
      if (d === 34) j = endOfString(b, j);
      else if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        if (--depth === 0) return j + 1;
      }
    }
    return fallback();
  }
  let j = i;
  while (j < n) {
    const d = b[j]!;
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    j++;
  }
  return j > i ? j : fallback();
}

/** Calls onKey(key, valueStart) for each key of the object at i; onKey returns the end of the value. Returns the end of the object. */
export function walkObject(b: Uint8Array, i: number, onKey: (key: string, valueStart: number) => number): number {
  if (b[i] !== 123) fallback();
  i = skipWs(b, i + 1);
  if (b[i] === 125) return i + 1;
  for (;;) {
    if (b[i] !== 34) fallback();
    const e = endOfString(b, i);
    const key = stringAt(b, i, e);
    i = skipWs(b, e + 1);
    if (b[i] !== 58) fallback();
    i = skipWs(b, onKey(key, skipWs(b, i + 1)));
    const c = b[i];
    if (c === 44) i = skipWs(b, i + 1);
    else if (c === 125) return i + 1;
    else fallback();
  }
}

export function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const g = new Int32Array(a.length * 2);
  g.set(a);
  return g;
}

export function growUnits(a: Uint16Array, need: number): Uint16Array<ArrayBuffer> {
  const g = new Uint16Array(Math.max(need, a.length * 2));
  g.set(a);
  return g;
}
