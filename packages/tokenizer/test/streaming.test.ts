import { describe, it, expect } from "vitest";
import { DecodeStream, fromTiktokenJson, fromTokenizerJson, addGlmSpecialTokens, GLM_SPECIAL_TOKENS } from "../src/index.js";
import { HARD_CASES, lenmlFile, tiktokenEncoderJson, brownDocs } from "./helpers.js";

const cl100k = fromTiktokenJson(tiktokenEncoderJson("cl100k_base"));
const gemma = fromTokenizerJson(lenmlFile("gemma3"));
const texts = [...HARD_CASES, brownDocs()[0]!.slice(0, 2000)];

describe.each([
  ["cl100k_base (byte-level)", cl100k],
  ["gemma3 (byte fallback + Metaspace-style decoder)", gemma],
])("DecodeStream on %s", (_, tok) => {
  it("emits exactly the decoded text, one id at a time", () => {
    for (const t of texts) {
      const ids = tok.encode(t, { addSpecialTokens: false });
      const stream = new DecodeStream(tok);
      let out = "";
      for (const id of ids) out += stream.push(id);
      out += stream.flush();
      expect(out).toBe(tok.decode(ids));
    }
  });

  it("never emits half of a character", () => {
    // emoji and CJK are split across several byte tokens
    const t = "😀👩‍👩‍👧‍👦 中文 🇯🇵 ₿ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢";
    const ids = tok.encode(t, { addSpecialTokens: false });
    const stream = new DecodeStream(tok);
    const pieces = ids.map((id) => stream.push(id));
    expect(ids.length).toBeGreaterThan(Array.from(t).length / 2);
    for (const p of pieces) {
      expect(p).not.toContain("\ufffd");
      // every piece is well-formed UTF-16 (no lone surrogates)
      expect(p).toBe(new TextDecoder().decode(new TextEncoder().encode(p)));
    }
    expect(pieces.join("") + stream.flush()).toBe(t);
  });

  it("flush gives U+FFFD for an unfinished character at the end", () => {
    const ids = tok.encode("😀", { addSpecialTokens: false });
    if (ids.length < 2) return; // the emoji is one token here: nothing to cut
    const stream = new DecodeStream(tok);
    expect(stream.push(ids.slice(0, -1))).toBe("");
    expect(stream.flush()).toContain("\ufffd");
  });
});

describe("Tokenizer.decodeStream", () => {
  it("is a DecodeStream over the tokenizer that passes on the decode options", () => {
    const tok = fromTiktokenJson(tiktokenEncoderJson("cl100k_base"));
    const ids = tok.encode("<|endoftext|>caf\u00e9 <|endoftext|>\u4e2d");
    for (const options of [{}, { skipSpecialTokens: true }]) {
      const stream = tok.decodeStream(options);
      expect(stream).toBeInstanceOf(DecodeStream);
      expect(ids.map((id) => stream.push(id)).join("") + stream.flush()).toBe(tok.decode(ids, options));
    }
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe("caf\u00e9 \u4e2d");
  });
});

describe("GLM special tokens", () => {
  it("can be added to any tokenizer and are matched, decoded and skipped", () => {
    const tok = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));
    const before = tok.vocabSize;
    const ids = addGlmSpecialTokens(tok);
    expect(Object.keys(ids)).toEqual([...GLM_SPECIAL_TOKENS]);
    expect(Object.values(ids)).toEqual([before, before + 1, before + 2, before + 3, before + 4]);
    const enc = tok.encode("Fill [MASK] here [gMASK][sop] text[eop]");
    expect(enc).toContain(ids["[MASK]"]);
    expect(enc.slice(-1)).toEqual([ids["[eop]"]]);
    expect(tok.decode(enc)).toBe("Fill [MASK] here [gMASK][sop] text[eop]");
    expect(tok.decode(enc, { skipSpecialTokens: true })).toBe("Fill  here  text");
    // adding again is idempotent
    expect(addGlmSpecialTokens(tok)).toEqual(ids);
  });
});
