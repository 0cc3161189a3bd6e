import { describe, it, expect } from "vitest";
import { SplitPreTokenizer, MetaspacePreTokenizer, DigitsPreTokenizer, ByteLevelPreTokenizer, translateRegex } from "../src/index.js";

// Hugging Face's split behaviors, on inputs small enough to work out by hand from the Rust
// library's definitions (tokenizers/src/tokenizer/normalizer.rs, SplitDelimiterBehavior).
function split(p: { split(t: string, out: string[], first: boolean): void }, text: string, first = true): string[] {
  const out: string[] = [];
  p.split(text, out, first);
  return out;
}

describe("Split behaviors", () => {
  const text = "a--b-c-";
  const on = (behavior: "Removed" | "Isolated" | "MergedWithPrevious" | "MergedWithNext" | "Contiguous", invert = false) =>
    split(new SplitPreTokenizer({ String: "-" }, behavior, invert), text);
  it("Removed drops the delimiters", () => expect(on("Removed")).toEqual(["a", "b", "c"]));
  it("Isolated keeps each delimiter alone", () => expect(on("Isolated")).toEqual(["a", "-", "-", "b", "-", "c", "-"]));
  it("MergedWithPrevious appends a delimiter run's first delimiter to what precedes it", () =>
    expect(on("MergedWithPrevious")).toEqual(["a-", "-", "b-", "c-"]));
  it("MergedWithNext prepends a delimiter to what follows it", () => expect(on("MergedWithNext")).toEqual(["a", "-", "-b", "-c", "-"]));
  it("Contiguous joins runs of delimiters", () => expect(on("Contiguous")).toEqual(["a", "--", "b", "-", "c", "-"]));
  it("invert swaps matches and the rest", () => expect(on("Removed", true)).toEqual(["-", "-", "-", "-"]));
  it("regex patterns, with empty matches skipped", () => {
    expect(split(new SplitPreTokenizer({ Regex: "\\d*" }, "Isolated", false), "ab12c3")).toEqual(["ab", "12", "c", "3"]);
  });
});

describe("Metaspace", () => {
  it("replaces spaces, prepends one, and splits before each ▁ (runs of ▁ stay separate, as in Rust)", () => {
    const m = new MetaspacePreTokenizer("▁", "always", true);
    expect(split(m, "hello  world")).toEqual(["▁hello", "▁", "▁world"]);
    expect(split(new MetaspacePreTokenizer("▁", "first", true), "hi you", false)).toEqual(["hi", "▁you"]);
    expect(split(new MetaspacePreTokenizer("▁", "first", false), "hi you", true)).toEqual(["▁hi▁you"]);
    expect(split(new MetaspacePreTokenizer("▁", "never", true), " x")).toEqual(["▁x"]);
  });
});

describe("Digits and ByteLevel", () => {
  it("Digits isolates digits one by one or in runs (any Unicode number)", () => {
    expect(split(new DigitsPreTokenizer(true), "a12b٣")).toEqual(["a", "1", "2", "b", "٣"]);
    expect(split(new DigitsPreTokenizer(false), "a12b٣")).toEqual(["a", "12", "b", "٣"]);
  });
  it("ByteLevel adds a prefix space and applies GPT-2's regex", () => {
    expect(split(new ByteLevelPreTokenizer(true, true), "Hi  there's 42!")).toEqual([" Hi", " ", " there", "'s", " 42", "!"]);
  });
});

describe("regex translation", () => {
  it("expands (?i:...) groups, maps \\s to White_Space and emulates possessive quantifiers", () => {
    const re = new RegExp(translateRegex("(?i:'s|ab)|\\s+", { caseFold: "unicode" }), "gu");
    expect("'S 'ſ AB aB \u0085".match(re)).toEqual(["'S", " ", "'ſ", " ", "AB", " ", "aB", " \u0085"]);
    // X++ never gives back: "aaa" then "a" cannot match, unlike a+a
    const poss = new RegExp(translateRegex("a++a|b"), "gu");
    expect("aaab".match(poss)).toEqual(["b"]);
    expect(new RegExp(translateRegex("[^\\s]?+x"), "gu").exec("!x")![0]).toBe("!x");
  });
  it("JS \\s differs from Unicode White_Space at U+FEFF and U+0085", () => {
    const re = new RegExp(translateRegex("\\s"), "u");
    expect(re.test("\ufeff")).toBe(false);
    expect(re.test("\u0085")).toBe(true);
  });
});
