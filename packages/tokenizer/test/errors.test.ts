import { describe, it, expect } from "vitest";
import { fromTokenizerJson, fromGpt2Files, fromTiktoken, fromTiktokenJson, TokenizerError, trainBPE, DecodeStream } from "../src/index.js";
import { lenmlFile, tiktokenEncoderJson } from "./helpers.js";

/** A small valid byte-level tokenizer.json to break in different ways. */
// biome-ignore lint/suspicious/noExplicitAny: tests reach into and mutate parsed tokenizer JSON freely
function tiny(): Record<string, any> {
  const vocab: Record<string, number> = { a: 0, b: 1, ab: 2, Ġ: 3, Ġab: 4 };
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: [{ id: 5, content: "<|end|>", special: true, normalized: false, lstrip: false, rstrip: false, single_word: false }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: null,
    decoder: { type: "ByteLevel" },
    model: { type: "BPE", vocab, merges: ["a b", "Ġ ab"] },
  };
}

function errorOf(fn: () => unknown): TokenizerError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(TokenizerError);
    expect(e).toBeInstanceOf(Error);
    return e as TokenizerError;
  }
  throw new Error("expected a TokenizerError, none was thrown");
}

describe("bad input gives errors that name the file/key, what was expected and what was found", () => {
  it("the tiny tokenizer itself works (so the errors below come from the breakage)", () => {
    const t = fromTokenizerJson(JSON.stringify(tiny()));
    expect(t.encode("ab ab<|end|>")).toEqual([2, 4, 5]);
    expect(t.decode([2, 4, 5])).toBe("ab ab<|end|>");
  });

  it("malformed JSON", () => {
    const text = JSON.stringify(tiny());
    const e = errorOf(() => fromTokenizerJson(text.slice(0, text.length - 7), "my/tokenizer.json"));
    expect(e.message).toMatch(/^my\/tokenizer\.json: malformed JSON: /);
    expect(errorOf(() => fromGpt2Files("{not json", "")).message).toMatch(/vocab\.json: malformed JSON/);
    expect(errorOf(() => fromTiktokenJson("[1,", "x.json")).message).toMatch(/x\.json: malformed JSON/);
  });

  it("a merge that names a token not in the vocab (string and pair forms, fast and object paths)", () => {
    for (const merges of [
      ["a b", "Ġ zz"],
      [
        ["a", "b"],
        ["Ġ", "zz"],
      ],
    ]) {
      const j = tiny();
      j.model.merges = merges;
      for (const input of [JSON.stringify(j), j]) {
        const e = errorOf(() => fromTokenizerJson(input as never, "t.json"));
        expect(e.message).toBe('t.json: model.merges[1]: token "zz" of merge "Ġ zz" is not in the vocab');
      }
    }
    const j = tiny();
    j.model.merges = ["a b", "b a"];
    expect(errorOf(() => fromTokenizerJson(JSON.stringify(j), "t.json")).message).toBe(
      't.json: model.merges[1]: the merged token "ba" of merge "b a" is not in the vocab',
    );
    j.model.merges = ["a b", "ab"];
    expect(errorOf(() => fromTokenizerJson(JSON.stringify(j), "t.json")).message).toMatch(
      /model\.merges\[1\]: expected two tokens separated by one space, found "ab"/,
    );
    // GPT-2 merges.txt
    const vocab = JSON.stringify(tiny().model.vocab);
    expect(errorOf(() => fromGpt2Files(vocab, "#version: 0.2\na b\nq r\n")).message).toMatch(
      /model\.merges\[1\]: token "q" of merge "q r" is not in the vocab/,
    );
  });

  it("a vocab with gaps or duplicate ids", () => {
    for (const asText of [true, false]) {
      const gap = tiny();
      gap.model.vocab = { a: 0, b: 1, ab: 2, Ġ: 3, Ġab: 7 };
      const e1 = errorOf(() => fromTokenizerJson(asText ? JSON.stringify(gap) : gap, "t.json"));
      expect(e1.message).toMatch(/t\.json: model\.vocab: expected ids 0\.\.4 without gaps for 5 tokens, found id 7 for token "Ġab"/);
      const dup = tiny();
      dup.model.vocab = { a: 0, b: 1, ab: 2, Ġ: 3, Ġab: 2 };
      const e2 = errorOf(() => fromTokenizerJson(asText ? JSON.stringify(dup) : dup, "t.json"));
      expect(e2.message).toMatch(/t\.json: model\.vocab: duplicate id 2, used by "ab" and "Ġab"/);
      const neg = tiny();
      neg.model.vocab = { a: 0, b: -1 };
      expect(errorOf(() => fromTokenizerJson(asText ? JSON.stringify(neg) : neg, "t.json")).message).toMatch(
        /model\.vocab\["b"\]: expected an integer id in \[0, 2147483647\], found -1/,
      );
    }
    // tiktoken ranks
    expect(errorOf(() => fromTiktoken("YQ== 0\nYg== 2\n", { pattern: "\\S+", source: "x.tiktoken" })).message).toMatch(
      /x\.tiktoken: expected ranks 0\.\.2 without gaps except at special-token ids, rank 1 is missing/,
    );
    expect(errorOf(() => fromTiktoken("YQ== 0\nYg== 0\n", { pattern: "\\S+", source: "x.tiktoken" })).message).toMatch(
      /x\.tiktoken line 2: duplicate rank 0/,
    );
    expect(errorOf(() => fromTiktoken("YQ==\n", { pattern: "\\S+", source: "x.tiktoken" })).message).toMatch(
      /x\.tiktoken line 1: expected "<base64 token> <rank>", found "YQ=="/,
    );
  });

  it("unknown model, normalizer, pre-tokenizer, decoder and post-processor types", () => {
    // biome-ignore lint/suspicious/noExplicitAny: tests reach into and mutate parsed tokenizer JSON freely
    const cases: [string, (j: Record<string, any>) => void, RegExp][] = [
      ["model", (j) => (j.model.type = "WordPiece"), /t\.json: model\.type: unsupported model "WordPiece"; supported: BPE/],
      [
        "normalizer",
        (j) => (j.normalizer = { type: "Precompiled", precompiled_charsmap: "" }),
        /t\.json: normalizer\.type: unsupported normalizer "Precompiled"; supported: NFC/,
      ],
      [
        "nested normalizer",
        (j) => (j.normalizer = { type: "Sequence", normalizers: [{ type: "NFC" }, { type: "BertNormalizer" }] }),
        /t\.json: normalizer\.normalizers\[1\]\.type: unsupported normalizer "BertNormalizer"/,
      ],
      [
        "pre-tokenizer",
        (j) => (j.pre_tokenizer = { type: "UnicodeScripts" }),
        /t\.json: pre_tokenizer\.type: unsupported pre-tokenizer "UnicodeScripts"; supported: Split/,
      ],
      ["decoder", (j) => (j.decoder = { type: "WordPiece" }), /t\.json: decoder\.type: unsupported decoder "WordPiece"/],
      [
        "post-processor",
        (j) => (j.post_processor = { type: "Mystery" }),
        /t\.json: post_processor\.type: unsupported post-processor "Mystery"/,
      ],
      ["dropout", (j) => (j.model.dropout = 0.1), /t\.json: model\.dropout: BPE dropout is not supported/],
      [
        "split behavior",
        (j) => (j.pre_tokenizer = { type: "Split", pattern: { String: " " }, behavior: "Sideways", invert: false }),
        /pre_tokenizer\.behavior: expected one of Removed, Isolated/,
      ],
      [
        "regex JavaScript cannot run exactly",
        (j) =>
          (j.pre_tokenizer = {
            type: "Sequence",
            pretokenizers: [
              { type: "Split", pattern: { Regex: "\\G\\w+" }, behavior: "Isolated", invert: false },
              { type: "ByteLevel", use_regex: false },
            ],
          }),
        /unsupported regex construct \\G at index 0/,
      ],
      [
        "ByteLevel not last",
        (j) => (j.pre_tokenizer = { type: "Sequence", pretokenizers: [{ type: "ByteLevel" }, { type: "Digits" }] }),
        /a ByteLevel pre-tokenizer must come last/,
      ],
      ["padding", (j) => (j.padding = { strategy: "BatchLongest" }), /t\.json: padding: not supported/],
    ];
    for (const [, edit, re] of cases) {
      const j = tiny();
      edit(j);
      expect(errorOf(() => fromTokenizerJson(JSON.stringify(j), "t.json")).message).toMatch(re);
    }
  });

  it("ids out of range (or not ids) in decode, decodeBytes and DecodeStream", () => {
    const t = fromTokenizerJson(JSON.stringify(tiny()));
    expect(errorOf(() => t.decode([0, 6])).message).toMatch(/^decode: id at position 1 is 6; expected an integer id of a token \(0\.\.5/);
    expect(errorOf(() => t.decode([-1])).message).toMatch(/decode: id at position 0 is -1/);
    expect(errorOf(() => t.decode([1.5])).message).toMatch(/decode: id at position 0 is 1\.5/);
    expect(errorOf(() => t.decode("12" as never)).message).toMatch(/decode: expected an array of token ids, found "12"/);
    expect(errorOf(() => t.decodeBytes([99])).message).toMatch(/decodeBytes: id at position 0 is 99/);
    expect(errorOf(() => new DecodeStream(t).push(99)).message).toMatch(/id at position 0 is 99/);
    // an id inside the vocab range that no token has (gpt-4o's file leaves ids 200000..200017 unused)
    const gpt4o = fromTokenizerJson(lenmlFile("gpt4o"));
    expect(errorOf(() => gpt4o.decode([200005])).message).toMatch(/id at position 0 is 200005/);
    expect(gpt4o.decode([200018])).toBe("<|endofprompt|>");
  });

  it("wrong argument types", () => {
    const t = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));
    expect(errorOf(() => t.encode(42 as never)).message).toBe("encode: expected text to be a string, found 42");
    expect(errorOf(() => t.encodeBatch("abc" as never)).message).toMatch(/encodeBatch: expected an array of strings, found "abc"/);
    expect(errorOf(() => trainBPE([1 as never], { vocabSize: 300 })).message).toMatch(/trainBPE: texts: expected strings, found 1/);
    expect(errorOf(() => t.addTokens([""])).message).toMatch(/addTokens: expected a non-empty token string/);
  });
});
