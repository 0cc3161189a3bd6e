import { describe, it, expect } from "vitest";
import {
  ByteLevelDecoder,
  ByteLevelPreTokenizer,
  MetaspaceDecoder,
  SequencePreTokenizer,
  SplitPreTokenizer,
  Tokenizer,
  TIKTOKEN_PATTERNS,
  fromTiktokenJson,
  fromTokenizerJson,
  type PreTokenizer,
} from "../src/index.js";
import { scannerFor } from "../src/pre_tokenizers/fast_scan.js";
import { lenmlFile, tiktokenEncoderJson } from "./helpers.js";

// The tokenizer asks its pre-tokenizer for a fast split (one regex, or a hand-written scanner,
// over the whole text) and its decoder for per-token bytes; these pin down who answers what.

const cl100k = TIKTOKEN_PATTERNS.cl100k_base;
const splitThenBytes = (split: SplitPreTokenizer, byteLevel = new ByteLevelPreTokenizer(false, false, false)) =>
  new SequencePreTokenizer([split, byteLevel]);

describe("fastSplit", () => {
  it("ByteLevel with its regex and no prefix space: GPT-2's regex and scanner, gaps kept", () => {
    const p = new ByteLevelPreTokenizer(false, true);
    const f = p.fastSplit();
    expect(f?.regex).toBe(p.regex);
    expect(f?.keepGaps).toBe(true);
    expect(f?.scanner).not.toBeNull();
  });

  it("ByteLevel with a prefix space or without its regex: none", () => {
    expect(new ByteLevelPreTokenizer(true, true).fastSplit()).toBeNull();
    expect(new ByteLevelPreTokenizer(false, false).fastSplit()).toBeNull();
  });

  it("a Sequence of one ByteLevel answers as the ByteLevel, nested or not", () => {
    expect(new SequencePreTokenizer([new ByteLevelPreTokenizer(false, true)]).fastSplit()?.keepGaps).toBe(true);
    expect(new SequencePreTokenizer([new SequencePreTokenizer([new ByteLevelPreTokenizer(false, true)])]).fastSplit()).not.toBeNull();
    expect(new SequencePreTokenizer([new ByteLevelPreTokenizer(true, true)]).fastSplit()).toBeNull();
  });

  it("Split (Isolated regex) then a pass-through ByteLevel: the Split's regex, gaps kept, its scanner", () => {
    const split = new SplitPreTokenizer({ Regex: cl100k }, "Isolated", false, "unicode");
    const f = splitThenBytes(split).fastSplit();
    expect(f?.regex).toBe(split.regex);
    expect(f?.keepGaps).toBe(true);
    expect(f?.scanner).not.toBeNull();
  });

  it("Split (inverted Removed regex) then a pass-through ByteLevel: only the matches", () => {
    const f = splitThenBytes(new SplitPreTokenizer({ Regex: cl100k }, "Removed", true)).fastSplit();
    expect(f?.keepGaps).toBe(false);
    expect(f?.scanner).not.toBeNull();
  });

  it("a regex with no hand-written scanner still gets the regex", () => {
    const f = splitThenBytes(new SplitPreTokenizer({ Regex: "\\d+" }, "Isolated", false)).fastSplit();
    expect(f?.regex).toBeInstanceOf(RegExp);
    expect(f?.scanner).toBeNull();
  });

  it("none for other Splits, a ByteLevel that splits again, or a Split alone", () => {
    expect(splitThenBytes(new SplitPreTokenizer({ String: "-" }, "Isolated", false)).fastSplit()).toBeNull();
    expect(splitThenBytes(new SplitPreTokenizer({ Regex: cl100k }, "Removed", false)).fastSplit()).toBeNull();
    expect(splitThenBytes(new SplitPreTokenizer({ Regex: cl100k }, "MergedWithPrevious", false)).fastSplit()).toBeNull();
    expect(
      splitThenBytes(new SplitPreTokenizer({ Regex: cl100k }, "Isolated", false), new ByteLevelPreTokenizer(false, true)).fastSplit(),
    ).toBeNull();
    expect(
      splitThenBytes(new SplitPreTokenizer({ Regex: cl100k }, "Isolated", false), new ByteLevelPreTokenizer(true, false)).fastSplit(),
    ).toBeNull();
    const alone: PreTokenizer = new SplitPreTokenizer({ Regex: cl100k }, "Isolated", false);
    expect(alone.fastSplit).toBeUndefined();
    expect(new SequencePreTokenizer([alone]).fastSplit()).toBeNull();
  });

  it("the tokenizers the benchmark loads get a scanner (r50k, cl100k, Llama 3, Qwen 3)", () => {
    for (const t of [
      fromTiktokenJson(tiktokenEncoderJson("r50k_base")),
      fromTiktokenJson(tiktokenEncoderJson("cl100k_base")),
      fromTokenizerJson(lenmlFile("llama3")),
      fromTokenizerJson(lenmlFile("qwen3")),
    ])
      expect(t.preTokenizer?.fastSplit?.()?.scanner).toBeTypeOf("function");
  });
});

describe("the tokenizer asks", () => {
  it("encodes with the scanner its pre-tokenizer gives, never calling split()", () => {
    const ref = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));
    const gpt2 = scannerFor(TIKTOKEN_PATTERNS.r50k_base, "ascii")!;
    let calls = 0;
    const asked: PreTokenizer = {
      byteLevel: true,
      split() {
        throw new Error("split() called although fastSplit() gave a scanner");
      },
      toJSON: () => ({ type: "ByteLevel" }),
      fastSplit: () => ({
        regex: /x/gu,
        keepGaps: true,
        scanner: (text, i, n) => {
          calls++;
          return gpt2(text, i, n);
        },
      }),
    };
    const t = new Tokenizer({ model: ref.model, preTokenizer: asked, decoder: ref.decoder });
    const text = "Hello, World! How's it going?\n\n  emoji 😀 中文";
    expect(t.encode(text)).toEqual(ref.encode(text));
    expect(calls).toBeGreaterThan(0);
  });

  it("decodes bytes when the decoder gives per-token bytes (ByteLevel), text otherwise", () => {
    const ref = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));
    expect(new ByteLevelDecoder().tokenBytes("Ġhi")).toEqual(new Uint8Array([32, 104, 105]));
    expect(ref.decodesBytes()).toBe(true);
    const other = new Tokenizer({ model: ref.model, preTokenizer: ref.preTokenizer, decoder: new MetaspaceDecoder("▁", "always", true) });
    expect(other.decodesBytes()).toBe(false);
  });
});
