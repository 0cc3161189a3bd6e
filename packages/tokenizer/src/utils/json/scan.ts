// Small pieces the fast tokenizer.json reader is made of. They work on the file text at an
// index and are module-level functions of (text, i), so V8 compiles each once, small, and the
// hot loops keep the text in a register.

/** Thrown when the text is not shaped as the fast reader expects; the caller then uses JSON.parse. */
export class Fallback extends Error {}

export function fallback(): never {
  throw new Fallback();
}

/** Index of the first non-whitespace character at or after i. */
export function skipWs(text: string, i: number): number {
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 32 || c === 10 || c === 13 || c === 9) i++;
    else break;
  }
  return i;
}

/** Index of the closing quote of the string whose opening quote is at i. */
export function endOfString(text: string, i: number): number {
  const n = text.length;
  for (let j = i + 1; j < n; j++) {
    const c = text.charCodeAt(j);
    if (c === 34) return j;
    if (c === 92) j++;
  }
  return fallback();
}

/** The value of the string literal text[i..e] (quotes included), unescaped only when it has a backslash. */
export function stringAt(text: string, i: number, e: number): string {
  for (let j = i + 1; j < e; j++) if (text.charCodeAt(j) === 92) return JSON.parse(text.slice(i, e + 1)) as string;
  return text.slice(i + 1, e);
}

/** Index just past the JSON value starting at i (not validated: JSON.parse of the slice does that). */
export function skipValue(text: string, i: number): number {
  const n = text.length;
  const c = text.charCodeAt(i);
  if (c === 34) return endOfString(text, i) + 1;
  if (c === 123 || c === 91) {
    let depth = 0;
    for (let j = i; j < n; j++) {
      const d = text.charCodeAt(j);
      if (d === 34) j = endOfString(text, j);
      else if (d === 123 || d === 91) depth++;
      else if (d === 125 || d === 93) {
        if (--depth === 0) return j + 1;
      }
    }
    return fallback();
  }
  let j = i;
  while (j < n) {
    const d = text.charCodeAt(j);
    if (d === 44 || d === 125 || d === 93 || d === 32 || d === 10 || d === 13 || d === 9) break;
    j++;
  }
  return j > i ? j : fallback();
}

/** Calls onKey(key, valueStart) for each key of the object at i; onKey returns the end of the value. Returns the end of the object. */
export function walkObject(text: string, i: number, onKey: (key: string, valueStart: number) => number): number {
  if (text.charCodeAt(i) !== 123) fallback();
  i = skipWs(text, i + 1);
  if (text.charCodeAt(i) === 125) return i + 1;
  for (;;) {
    if (text.charCodeAt(i) !== 34) fallback();
    const e = endOfString(text, i);
    const key = stringAt(text, i, e);
    i = skipWs(text, e + 1);
    if (text.charCodeAt(i) !== 58) fallback();
    i = skipWs(text, onKey(key, skipWs(text, i + 1)));
    const c = text.charCodeAt(i);
    if (c === 44) i = skipWs(text, i + 1);
    else if (c === 125) return i + 1;
    else fallback();
  }
}

export function grow(a: Int32Array): Int32Array<ArrayBuffer> {
  const g = new Int32Array(a.length * 2);
  g.set(a);
  return g;
}
