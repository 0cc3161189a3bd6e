/**
 * A static check for regexes that backtrack catastrophically. A tokenizer.json Split or Replace
 * pattern runs over all of a user's text with JavaScript's backtracking engine, which cannot be
 * interrupted: `(a+)+$` takes seconds on 28 characters and four times longer per two more. So a
 * pattern from a file is refused when it has the shape of the classic blow-ups:
 *
 * - a repeated group that holds a part repeated a varying number of times ("nested quantifiers":
 *   `(a+)+`, `(\w*\s?)*`, `(x{1,9}){2,}`, `(a?a)+`): each character can be matched by the inner or
 *   the outer loop, so the ways to split a run grow exponentially (or as a high power) with its length;
 * - a repeated group whose alternatives can begin with the same character (`(a|a)+`, `(\w|\d)+`,
 *   `(ab|ac)*`): each repetition can take either branch.
 *
 * - three or more adjacent unbounded repetitions that can match the same characters (`\s*\s*\s*x`,
 *   `a+a+a+b`): time grows as the cube (or a higher power) of a run's length. Two are allowed: GPT-2's
 *   `\s+(?!\S)` and cl100k's `\s*[\r\n]+` have that shape, as every byte-level tokenizer does.
 *
 * A possessive quantifier (`a++`, as Oniguruma and our translation run it atomically) never backtracks
 * into what it took, so it ends neither shape. The check is conservative (a few harmless patterns
 * such as `(ab|ac)+` and `(ab?)+` are refused too); the patterns tokenizers ship (GPT-2, cl100k, o200k, LLaMA 3,
 * Qwen, DeepSeek, BLOOM) have neither shape.
 */

/** What one group (or the whole pattern) holds, as the scan closes it. */
interface Frame {
  /** Some part inside repeats a varying number of times: a quantifier on the group makes nested repetition. */
  repeats: boolean;
  /** Where the pattern's inner repetition is, for the message. */
  repeatsAt: number;
  /** First-character sets of each alternative so far (null: unknown, anything). */
  firsts: (Set<string> | null)[];
  /** Whether the current alternative has seen its first atom yet. */
  started: boolean;
  /** Index of the "(" (the pattern's start for the root). */
  open: number;
  /** (?=...), (?!...), (?<=...), (?<!...): consumes nothing. */
  lookaround: boolean;
  /** Adjacent unbounded repetitions (a*b+ ...) that can match the same characters, in the current alternative. */
  run: number;
  /** The first characters of the last of them. */
  runFirst: Set<string> | null;
}

/** A quantifier: its counts (max Infinity for *, + and {n,}), and whether it is possessive. */
interface Quantifier {
  min: number;
  max: number;
  possessive: boolean;
  end: number;
}

/**
 * Returns a description of the first catastrophic shape in `pattern`, or null when it has none.
 * `pattern` is in the syntax tokenizer files use (Oniguruma / Rust regex, which share these parts).
 */
export function findCatastrophicBacktracking(pattern: string): string | null {
  const stack: Frame[] = [frame(0)];
  // the atom a quantifier would apply to: a group's frame, or a single character/class
  let lastGroup: Frame | null = null;
  let lastAtomAt = -1;
  // whether the last atom was the first of its alternative (an optional one lets the next count too)
  let firstJustSet = false;
  // the first characters of the atom just read, until a quantifier or the next atom says whether it repeats
  let pending: Set<string> | null | undefined;
  for (let i = 0; i < pattern.length; ) {
    const top = stack[stack.length - 1]!;
    const c = pattern[i]!;
    const q = quantifierAt(pattern, i);
    const wasFirst = firstJustSet;
    firstJustSet = false;
    // an atom that did not repeat without bound ends a run of adjacent repetitions
    if (!q && pending !== undefined && pending !== EMPTY) top.run = 0;
    if (q && pending !== undefined) {
      if (q.max === Infinity && !q.possessive) {
        top.run = top.run > 0 && canOverlap(top.runFirst, pending) ? top.run + 1 : 1;
        top.runFirst = pending;
        if (top.run >= 3)
          return `three or more adjacent repetitions can match the same characters (the last quantifier at index ${i}), which takes time growing as a power of the text's length`;
      } else if (pending !== EMPTY) top.run = 0;
    }
    pending = undefined;
    if (q) {
      if (q.max > 1 && !q.possessive && lastGroup) {
        if (lastGroup.repeats)
          return `nested quantifiers: the group at index ${lastGroup.open} repeats (quantifier at index ${i}) and holds a part repeated a varying number of times (quantifier at index ${lastGroup.repeatsAt})`;
        const overlap = overlappingAlternatives(lastGroup.firsts);
        if (overlap)
          return `the group at index ${lastGroup.open} repeats (quantifier at index ${i}) and its alternatives can begin with the same character (${overlap})`;
      }
      // inside a repeated group, any part that can match a varying number of times (a?, a*, a{1,3})
      // lets one text be split between iterations in more than one way
      if ((q.max > 1 || q.min !== q.max) && !q.possessive && lastAtomAt >= 0 && !top.repeats) {
        top.repeats = true;
        top.repeatsAt = i;
      }
      // an optional first atom (a?b): the alternative may begin with what follows it too
      if (q.min === 0 && wasFirst) top.started = false;
      lastGroup = null;
      lastAtomAt = -1;
      i = q.end;
      continue;
    }
    if (c === "(") {
      const { end, lookaround } = groupOpening(pattern, i);
      const f = frame(i);
      f.lookaround = lookaround;
      stack.push(f);
      i = end;
      lastGroup = null;
      lastAtomAt = -1;
      continue;
    }
    if (c === ")") {
      const closed = stack.length > 1 ? stack.pop()! : top;
      const parent = stack[stack.length - 1]!;
      if (closed.repeats && !parent.repeats) {
        parent.repeats = true;
        parent.repeatsAt = closed.repeatsAt;
      }
      // a look-around consumes nothing: what follows it is the first character
      if (!closed.lookaround) firstJustSet = noteFirst(parent, unionOf(closed.firsts));
      lastGroup = closed.lookaround ? null : closed;
      pending = closed.lookaround ? EMPTY : unionOf(closed.firsts);
      lastAtomAt = i;
      i++;
      continue;
    }
    if (c === "|") {
      top.firsts.push(new Set());
      top.started = false;
      top.run = 0;
      lastGroup = null;
      lastAtomAt = -1;
      i++;
      continue;
    }
    const atom = atomAt(pattern, i);
    firstJustSet = noteFirst(top, atom.first);
    pending = atom.first;
    lastGroup = null;
    lastAtomAt = atom.first === EMPTY ? -1 : i;
    i = atom.end;
  }
  return null;
}

const EMPTY = new Set<string>();

function frame(open: number): Frame {
  return { repeats: false, repeatsAt: -1, firsts: [new Set()], started: false, open, lookaround: false, run: 0, runFirst: null };
}

/** Adds to the first-character set of the current alternative (its first consuming atom); true when it did. */
function noteFirst(f: Frame, first: Set<string> | null): boolean {
  if (f.started || first === EMPTY) return false;
  f.started = true;
  const k = f.firsts.length - 1;
  const current = f.firsts[k]!;
  if (first === null || current === null) f.firsts[k] = null;
  else for (const c of first) current.add(c);
  return true;
}

/** Whether two first-character sets can share a character (null: any character). */
function canOverlap(a: Set<string> | null, b: Set<string> | null): boolean {
  if (a === null || b === null) return true;
  for (const c of a) if (b.has(c)) return true;
  return false;
}

function unionOf(sets: (Set<string> | null)[]): Set<string> | null {
  const out = new Set<string>();
  for (const s of sets) {
    if (s === null) return null;
    for (const c of s) out.add(c);
  }
  return out;
}

/** Two alternatives whose first characters can coincide, described; null when all are disjoint. */
function overlappingAlternatives(firsts: (Set<string> | null)[]): string | null {
  if (firsts.length < 2) return null;
  const seen = new Set<string>();
  let unknown = 0;
  for (const f of firsts) {
    if (f === null) {
      unknown++;
      continue;
    }
    for (const c of f) {
      if (seen.has(c)) return `two begin with ${JSON.stringify(c)}`;
      seen.add(c);
    }
  }
  if (unknown > 1 || (unknown === 1 && seen.size > 0)) return "a class or group overlaps another alternative";
  return null;
}

/** A quantifier starting at i, or null: *, +, ?, {n}, {n,}, {n,m}, each maybe followed by ? (lazy) or + (possessive). */
function quantifierAt(p: string, i: number): Quantifier | null {
  const c = p[i];
  let min: number;
  let max: number;
  let end: number;
  if (c === "*" || c === "+") {
    min = c === "*" ? 0 : 1;
    max = Infinity;
    end = i + 1;
  } else if (c === "?") {
    min = 0;
    max = 1;
    end = i + 1;
  } else if (c === "{") {
    const m = /^\{(\d*)(,(\d*))?\}/.exec(p.slice(i, i + 24));
    if (!m || (m[1] === "" && (m[3] === undefined || m[3] === ""))) return null;
    min = m[1] === "" ? 0 : Number(m[1]);
    max = m[2] === undefined ? Number(m[1]) : m[3] === "" ? Infinity : Number(m[3]);
    end = i + m[0].length;
  } else return null;
  const possessive = p[end] === "+";
  if (p[end] === "?" || possessive) end++;
  return { min, max, possessive, end };
}

/** Where a group's opening ends ("(", "(?:", "(?i:", "(?<name>", ...) and whether it is a look-around. */
function groupOpening(p: string, i: number): { end: number; lookaround: boolean } {
  if (p[i + 1] !== "?") return { end: i + 1, lookaround: false };
  const rest = p.slice(i + 2, i + 64);
  if (rest.startsWith("=") || rest.startsWith("!")) return { end: i + 3, lookaround: true };
  if (rest.startsWith("<=") || rest.startsWith("<!")) return { end: i + 4, lookaround: true };
  const named = /^(?:<[A-Za-z_][A-Za-z0-9_]*>|P<[A-Za-z_][A-Za-z0-9_]*>|'[A-Za-z_][A-Za-z0-9_]*')/.exec(rest);
  if (named) return { end: i + 2 + named[0].length, lookaround: false };
  const flags = /^[a-zA-Z-]*:/.exec(rest);
  if (flags) return { end: i + 2 + flags[0].length, lookaround: false };
  return { end: i + 2, lookaround: false };
}

/** One atom at i (not a group, alternation or quantifier): its end and the characters it can begin with. */
function atomAt(p: string, i: number): { end: number; first: Set<string> | null } {
  const c = p[i]!;
  if (c === "^" || c === "$") return { end: i + 1, first: EMPTY };
  if (c === ".") return { end: i + 1, first: null };
  if (c === "[") return { end: classEnd(p, i), first: null };
  if (c === "\\") {
    const n = p[i + 1];
    if (n === undefined) return { end: i + 1, first: EMPTY };
    // anchors and word boundaries consume nothing
    if ("bBAzZG".includes(n)) return { end: i + 2, first: EMPTY };
    if (n === "p" || n === "P") {
      const m = /^\{[^}]*\}/.exec(p.slice(i + 2));
      return { end: i + 2 + (m ? m[0].length : 1), first: null };
    }
    if (n === "x") {
      const m = /^(\{[0-9A-Fa-f]+\}|[0-9A-Fa-f]{2})/.exec(p.slice(i + 2));
      const code = m ? Number.parseInt(m[0].replace(/[{}]/g, ""), 16) : Number.NaN;
      return { end: i + 2 + (m ? m[0].length : 0), first: Number.isFinite(code) ? new Set([String.fromCodePoint(code)]) : null };
    }
    if (n === "u") {
      const m = /^[0-9A-Fa-f]{4}/.exec(p.slice(i + 2));
      return { end: i + 2 + (m ? 4 : 0), first: m ? new Set([String.fromCharCode(Number.parseInt(m[0], 16))]) : null };
    }
    if (/[dDwWsSvVhHRXNkK0-9]/.test(n)) return { end: i + 2, first: null };
    const escaped: Record<string, string> = { n: "\n", r: "\r", t: "\t", f: "\f", v: "\v" };
    return { end: i + 2, first: new Set([(escaped[n] ?? n).toLowerCase()]) };
  }
  const cp = p.codePointAt(i)!;
  const ch = String.fromCodePoint(cp);
  return { end: i + ch.length, first: new Set([ch.toLowerCase()]) };
}

/** Index just past the character class that opens at i (nested classes and escapes included). */
function classEnd(p: string, i: number): number {
  let depth = 0;
  let j = i;
  while (j < p.length) {
    const c = p[j]!;
    if (c === "\\") {
      j += 2;
      continue;
    }
    if (c === "[") {
      depth++;
      // a "]" first in a class is a literal
      if (p[j + 1] === "^") j++;
      if (p[j + 1] === "]") j++;
    } else if (c === "]") {
      depth--;
      if (depth === 0) return j + 1;
    }
    j++;
  }
  return p.length;
}
