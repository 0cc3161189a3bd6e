import { describe, it, expect } from "vitest";
import { scannerFor } from "../src/pre_tokenizers/fast_scan.js";
import { compileRegex, TIKTOKEN_PATTERNS, GPT2_PATTERN } from "../src/index.js";
import { brownDocs, HARD_CASES } from "./helpers.js";

// The hand-written scanners must cut text exactly where their regex does.
const LLAMA3 =
  "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const QWEN = LLAMA3.replace("\\p{N}{1,3}", "\\p{N}");

function regexPieces(re: RegExp, text: string): string[] {
  const out: string[] = [];
  re.lastIndex = 0;
  let last = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(text)) !== null) {
    if (m[0].length === 0) {
      re.lastIndex++;
      continue;
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(m[0]);
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function scanPieces(scan: (t: string, i: number, n: number) => number, text: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length; ) {
    const e = scan(text, i, text.length);
    out.push(text.slice(i, e));
    i = e;
  }
  return out;
}

/** random strings dense in the characters the patterns care about */
function* randomTexts(count: number, seed: number) {
  const alphabet = [
    "a",
    "B",
    "z",
    "'",
    "s",
    "S",
    "t",
    "re",
    "RE",
    "ll",
    "ſ",
    "K",
    " ",
    "  ",
    "\t",
    "\n",
    "\r",
    "\r\n",
    "\u00a0",
    "\u0085",
    "\ufeff",
    "\u3000",
    "1",
    "22",
    "٣",
    "½",
    "Ⅻ",
    ".",
    ",",
    "!",
    "/",
    "-",
    "é",
    "e\u0301",
    "中",
    "😀",
    "👩‍👧",
    "\ud800",
    "\udc00",
    "_",
    "ǅ",
    "Ω",
  ];
  let s = seed;
  const next = () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 4294967296;
  for (let k = 0; k < count; k++) {
    let t = "";
    const len = Math.floor(next() * 16);
    for (let i = 0; i < len; i++) t += alphabet[Math.floor(next() * alphabet.length)];
    yield t;
  }
}

describe.each([
  ["GPT-2 / r50k / p50k", GPT2_PATTERN, "ascii"],
  ["cl100k (npm tiktoken pat_str) = Llama 3", LLAMA3, "unicode"],
  ["cl100k (tiktoken's possessive form)", TIKTOKEN_PATTERNS.cl100k_base, "unicode"],
  ["Llama 3 with ASCII case folding", LLAMA3, "ascii"],
  ["Qwen", QWEN, "ascii"],
] as const)("scanner for %s", (_, pattern, fold) => {
  const scan = scannerFor(pattern, fold)!;
  const re = compileRegex(pattern, { caseFold: fold });

  it("exists", () => expect(scan).not.toBeNull());

  it("cuts the Brown corpus and the hard cases where the regex does", () => {
    for (const t of [...brownDocs().filter((_, i) => i % 4 === 0), ...HARD_CASES]) {
      const a = scanPieces(scan, t);
      const b = regexPieces(re, t);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) expect(a).toEqual(b);
    }
  });

  it("cuts 50k random strings where the regex does", () => {
    for (const t of randomTexts(50_000, 7)) {
      const a = scanPieces(scan, t);
      const b = regexPieces(re, t);
      if (a.length !== b.length || a.some((x, i) => x !== b[i])) expect({ t, a }).toEqual({ t, a: b });
    }
  });
});

it("other patterns get no scanner (they use the regex)", () => {
  expect(scannerFor(TIKTOKEN_PATTERNS.o200k_base, "unicode")).toBeNull();
  expect(scannerFor("\\S+", "ascii")).toBeNull();
});
