import { describe, it, expect } from "vitest";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { trainBPE, fromTokenizerJson, type Tokenizer } from "../src/index.js";
import { brownDocs, HARD_CASES } from "./helpers.js";

const CODE = [
  "def main():\n    for i in range(10):\n        if i % 2:\n            print(i)\n    return 0\n",
  "class A:\n    def __init__(self):\n        self.x = 1\n\n    def f(self, y):\n        return self.x + y\n",
];

describe("trainBPE", () => {
  const docs = brownDocs();
  let gpt2: Tokenizer;

  it("trains a byte-level BPE of exactly 8k tokens on the Brown corpus", () => {
    gpt2 = trainBPE(docs, { vocabSize: 8000, specialTokens: ["<|endoftext|>"] });
    expect(gpt2.vocabSize).toBe(8000);
    expect(gpt2.tokenToId("<|endoftext|>")).toBe(0);
    // frequent English words became single tokens
    for (const w of [" the", " and", " of", " which"]) expect(gpt2.encode(w)).toHaveLength(1);
    // and the tokens are ordered by merge: every merge joins two earlier tokens
    const json = gpt2.toJSON() as { model: { merges: [string, string][]; vocab: Record<string, number> } };
    json.model.merges.forEach(([a, b], r) => {
      const id = json.model.vocab[a + b]!;
      expect(json.model.vocab[a]).toBeLessThan(id);
      expect(json.model.vocab[b]).toBeLessThan(id);
      expect(id).toBe(257 + r);
    });
  });

  it("round-trips any text, including bytes it never saw", () => {
    for (const t of [...HARD_CASES, ...docs.slice(0, 20)]) expect(gpt2.decode(gpt2.encode(t))).toBe(t);
  });

  it("compresses text: fewer tokens than bytes by a wide margin", () => {
    const sample = docs.slice(0, 50).join("");
    expect(gpt2.encode(sample).length).toBeLessThan(new TextEncoder().encode(sample).length / 3);
  });

  it("saves a tokenizer.json that @huggingface/tokenizers loads and encodes identically", () => {
    const text = JSON.stringify(gpt2.toJSON());
    const hf = new HFTokenizer(JSON.parse(text), {});
    const again = fromTokenizerJson(text);
    for (const t of [...HARD_CASES, ...docs.slice(0, 30), ...CODE]) {
      const ids = gpt2.encode(t);
      expect(hf.encode(t).ids).toEqual(ids);
      expect(again.encode(t)).toEqual(ids);
    }
  });

  it("the NeoX style keeps runs of spaces as single tokens, which shortens indented code", () => {
    const neox = trainBPE(docs.slice(0, 200), { vocabSize: 4000, style: "neox", specialTokens: ["<|endoftext|>"] });
    const plain = trainBPE(docs.slice(0, 200), { vocabSize: 4000, specialTokens: ["<|endoftext|>"] });
    expect(neox.vocabSize).toBe(4000);
    const eight = neox.tokenToId(" ".repeat(8))!;
    expect(eight).toBeGreaterThan(0);
    expect(neox.encode("        return")[0]).toBe(eight);
    const code = CODE.join("\n");
    expect(neox.encode(code).length).toBeLessThan(plain.encode(code).length);
    expect(neox.decode(neox.encode(code))).toBe(code);
    const hf = new HFTokenizer(JSON.parse(JSON.stringify(neox.toJSON())), {});
    for (const t of [...CODE, ...HARD_CASES]) expect(hf.encode(t).ids).toEqual(neox.encode(t));
  });

  it("respects minFrequency and rejects bad options with messages that name them", () => {
    const small = trainBPE(["ab ab ab cd"], { vocabSize: 1000, minFrequency: 2 });
    // only pairs seen at least twice are merged: "a"+"b", " "+"a"... ; "c"+"d" (once) is not
    expect(small.encode("cd")).toHaveLength(2);
    expect(small.encode(" ab")).toHaveLength(1);
    expect(() => trainBPE(["x"], { vocabSize: 10 })).toThrow(/vocabSize: expected an integer of at least 256/);
    expect(() => trainBPE(["x"], { vocabSize: 300, style: "bert" as never })).toThrow(/style: expected "gpt2" or "neox"/);
  });
});
