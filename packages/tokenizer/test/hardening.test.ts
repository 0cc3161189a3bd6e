import { describe, expect, it } from "vitest";
import { fromGpt2Files, fromTiktoken, fromTokenizerJson, parseTiktokenCompactRanks, TokenizerError } from "../src/index.js";

// Each case once ended in a stack overflow, a hang, a raw TypeError/RangeError, or a silently
// wrong tokenizer; each now loads correctly or fails with a TokenizerError naming the key.

const base = { model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2, Ġ: 3 }, merges: ["a b"] } };
const bytes = (json: unknown) => new TextEncoder().encode(JSON.stringify(json));

/** Loads the same file through the bytes reader and the object reader: both must agree. */
function outcome(json: unknown): string {
  const run = (input: unknown) => {
    try {
      return `ids ${JSON.stringify(fromTokenizerJson(input as object).encode("abab"))}`;
    } catch (error) {
      if (!(error instanceof TokenizerError)) throw error;
      return `error ${error.message}`;
    }
  };
  const viaBytes = run(bytes(json));
  expect(run(JSON.parse(JSON.stringify(json)))).toBe(viaBytes);
  return viaBytes;
}

describe("nesting: a depth limit, not a stack overflow", () => {
  for (const [kind, key, leaf] of [
    ["pre_tokenizer", "pretokenizers", { type: "Whitespace" }],
    ["normalizer", "normalizers", { type: "Lowercase" }],
    ["decoder", "decoders", { type: "Fuse" }],
    ["post_processor", "processors", { type: "ByteLevel" }],
  ] as const) {
    it(`${kind}: Sequences nested 5000 deep (a raw RangeError)`, () => {
      // written as text: JSON.stringify itself overflows on an object this deep
      const deep = `${`{"type":"Sequence","${key}":[`.repeat(5000)}${JSON.stringify(leaf)}${"]}".repeat(5000)}`;
      const text = `{"${kind}":${deep},"model":${JSON.stringify(base.model)}}`;
      const message = new RegExp(`^tokenizer\\.json: ${kind}(\\.${key}\\[0\\]){17}: expected Sequences nested at most 16 deep`);
      expect(() => fromTokenizerJson(new TextEncoder().encode(text))).toThrow(message);
      expect(() => fromTokenizerJson(JSON.parse(text))).toThrow(message);
    });
  }

  it("16 levels still load", () => {
    let inner: unknown = { type: "Lowercase" };
    for (let d = 0; d < 16; d++) inner = { type: "Sequence", normalizers: [inner] };
    expect(outcome({ ...base, normalizer: inner })).toBe("ids [2,2]");
  });

  it("a 125,000-character token with a duplicate id in the fast reader (String.fromCharCode overflowed)", () => {
    const long = "x".repeat(125_000);
    const text = `{"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2,"${long}":1},"merges":["a b"]}}`;
    expect(() => fromTokenizerJson(new TextEncoder().encode(text))).toThrow(
      /model\.vocab: duplicate id 1, used by "b" and "x{60}… \(125000 characters\)"/,
    );
  });
});

describe("linear time", () => {
  it('N repeated {"model":0} under an unknown root key read in linear time (56 s at N=20,000)', () => {
    const junk = Array.from({ length: 20_000 }, () => '{"model":0}').join(",");
    const text = `{"junk":[${junk}],"model":{"type":"BPE","vocab":{"a":0,"b":1,"ab":2},"merges":["a b"]}}`;
    const started = performance.now();
    expect(fromTokenizerJson(new TextEncoder().encode(text)).encode("abab")).toEqual([2, 2]);
    // not a speed assertion: the quadratic reader took a minute here, the linear one milliseconds
    expect(performance.now() - started).toBeLessThan(10_000);
  });
});

describe("regexes that backtrack catastrophically are refused at load", () => {
  for (const pattern of ["(a+)+$", "(a|a)+$", "(\\w|\\d)+", "(a?a)+b", "\\s*\\s*\\s*x"]) {
    it(`Split ${JSON.stringify(pattern)}`, () => {
      const json = { ...base, pre_tokenizer: { type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false } };
      expect(outcome(json)).toMatch(
        /^error tokenizer\.json: pre_tokenizer\.pattern \(pre_tokenizer Split pattern\): regex .* can take time exponential in the text's length/,
      );
    });
  }

  it("so do Replace normalizers and decoders", () => {
    const normalizer = { type: "Replace", pattern: { Regex: "(x+x+)+y" }, content: "" };
    expect(outcome({ ...base, normalizer })).toMatch(
      /^error tokenizer\.json: normalizer\.pattern \(normalizer Replace pattern\): regex "\(x\+x\+\)\+y" can take time exponential/,
    );
    const decoder = { type: "Replace", pattern: { Regex: "(a*)*" }, content: "" };
    expect(outcome({ ...base, decoder })).toMatch(
      /^error tokenizer\.json: decoder\.pattern \(decoder Replace pattern\): regex "\(a\*\)\*" can take time exponential/,
    );
  });
});

describe("token ids", () => {
  const template = (ids: unknown[]) => ({
    type: "TemplateProcessing",
    single: [{ SpecialToken: { id: "X" } }, { Sequence: { id: "A" } }],
    pair: [],
    special_tokens: { X: { id: "X", ids, tokens: ["X"] } },
  });
  it("special-token ids of 1e12 or -1 (accepted, and emitted by encode)", () => {
    expect(outcome({ ...base, post_processor: template([1e12]) })).toMatch(
      /^error tokenizer\.json: post_processor\.special_tokens\.X\.ids\[0\]: expected a token id in \[0, 2147483647\], found 1000000000000/,
    );
    expect(outcome({ ...base, post_processor: { type: "BertProcessing", cls: ["X", -1], sep: ["b", 1] } })).toMatch(
      /^error tokenizer\.json: post_processor\.cls: expected \[token, id\] with an id in \[0, 2147483647\], found an array of length 2/,
    );
    expect(outcome({ ...base, added_tokens: [{ id: 1e12, content: "<x>", special: true }] })).toMatch(
      /added_tokens\[0\]\.id: expected an integer in \[0, 2147483647\], found 1000000000000/,
    );
  });

  it("a special-token id the vocabulary does not have", () => {
    expect(outcome({ ...base, post_processor: template([7]) })).toMatch(
      /post_processor: adds token id 7, which is not in the vocabulary \(ids 0\.\.3/,
    );
    expect(outcome({ ...base, post_processor: template([1]) })).toBe("ids [1,2,2]");
  });

  it("a vocab id at or past 2^32 ('Invalid array length')", () => {
    expect(outcome({ model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 ** 32 }, merges: [] } })).toMatch(
      /model\.vocab\["ab"\]: expected an integer id in \[0, 2147483647\], found 4294967296/,
    );
    const added = {
      model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 ** 30 }, merges: [] },
      added_tokens: [{ id: 2 ** 30, content: "ab" }],
    };
    expect(outcome(added)).toMatch(/model\.vocab: id 1073741824 of added token "ab" lies 1073741821 ids past the 3 tokens/);
  });

  it('TemplateProcessing {"Sequence":{"id":"C"}} (loaded, then encode threw a raw TypeError)', () => {
    const json = {
      ...base,
      post_processor: { type: "TemplateProcessing", single: [{ Sequence: { id: "C" } }], pair: [], special_tokens: {} },
    };
    expect(outcome(json)).toMatch(/post_processor\.single\[0\]\.Sequence\.id: expected "A", found "C"/);
    const notAPiece = { ...base, post_processor: { type: "TemplateProcessing", single: [5], special_tokens: {} } };
    expect(outcome(notAPiece)).toMatch(/post_processor\.single\[0\]: expected \{"SpecialToken"/);
  });

  it('"type": null in the model means absent in both readers (the bytes reader refused it)', () => {
    expect(outcome({ model: { ...base.model, type: null } })).toBe("ids [2,2]");
  });
});

describe("GPT-2 and tiktoken readers", () => {
  it("fromGpt2Files with null text (a raw TypeError)", () => {
    expect(() => fromGpt2Files(null as never, "")).toThrow(TokenizerError);
    expect(() => fromGpt2Files(null as never, "")).toThrow(
      /vocab\.json: expected the file's text or its object of token -> id, found null/,
    );
    expect(() => fromGpt2Files("{}", null as never)).toThrow(/merges\.txt: expected the file's text, found null/);
    expect(() => fromGpt2Files("{}", "", null as never)).toThrow(/options must be an object, found null/);
  });

  it("tiktoken: a rank past 2^31 (it was silently dropped), and inputs that are not text", () => {
    expect(() => fromTiktoken("YQ== 0\nYg== 4294967296\n", { pattern: "\\w+" })).toThrow(/line 2: expected "<base64 token> <rank>"/);
    expect(() => parseTiktokenCompactRanks(null as never)).toThrow(/bpe_ranks: expected the file's text, found null/);
    expect(() => fromTiktoken("YQ== 0\n", null as never)).toThrow(/tiktoken: options must be \{ pattern, specialTokens\? \}, found null/);
  });
});
