import { describe, expect, it } from "vitest";
import { fromGGUFMetadata, fromTokenizerJson, toGGUFMetadata, trainBPE } from "@llm/tokenizer";
import { llama2StyleJson } from "./helpers.js";

/** GGUF's tokenizer.ggml.* metadata, written and read back: the same ids and text (llama.cpp's reading of it is tested in @llm/models). */
const TEXTS = [
  "The quick brown fox jumps over the lazy dog. 1234 numbers, and punctuation!",
  "Tokenizers travel in GGUF files; llama.cpp reads them.\nNew lines too.",
];

function plain(meta: Map<string, { value: unknown }>): Map<string, unknown> {
  return new Map([...meta].map(([k, v]) => [k, v.value]));
}

describe("GGUF tokenizer metadata", () => {
  it("a GPT-2-style BPE round-trips: tokens, merges, special tokens", () => {
    const tok = trainBPE(TEXTS, { vocabSize: 300, specialTokens: ["<|endoftext|>"] });
    const meta = toGGUFMetadata(tok);
    expect(meta.get("tokenizer.ggml.model")!.value).toBe("gpt2");
    expect(meta.get("tokenizer.ggml.pre")!.value).toBe("gpt-2");
    expect((meta.get("tokenizer.ggml.tokens")!.value as string[]).length).toBe(tok.vocabSize);
    expect(meta.get("tokenizer.ggml.eos_token_id")!.value).toBe(tok.tokenToId("<|endoftext|>"));
    const back = fromGGUFMetadata(plain(meta));
    for (const text of [...TEXTS, "unseen words: zebra quixotic <|endoftext|>"]) {
      expect(back.encode(text)).toEqual(tok.encode(text));
      expect(back.decode(back.encode(text))).toBe(tok.decode(tok.encode(text)));
    }
    expect(back.specialTokens.get("<|endoftext|>")).toBe(tok.tokenToId("<|endoftext|>"));
  });

  it("a Llama-3-style pre-tokenizer travels as llama.cpp's 'llama-bpe' label", () => {
    const base = trainBPE(TEXTS, { vocabSize: 300 }).toJSON() as Record<string, unknown>;
    const split =
      "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
    const llama3 = fromTokenizerJson({
      ...base,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [
          { type: "Split", pattern: { Regex: split }, behavior: "Isolated", invert: false },
          { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false },
        ],
      },
    });
    const meta = toGGUFMetadata(llama3);
    expect(meta.get("tokenizer.ggml.pre")!.value).toBe("llama-bpe");
    const back = fromGGUFMetadata(plain(meta));
    const text = "Numbers 123456 split in threes; words stay whole.";
    expect(back.encode(text)).toEqual(llama3.encode(text));
  });

  it("names what it cannot read", () => {
    expect(() => fromGGUFMetadata(new Map([["tokenizer.ggml.model", "bert"]]))).toThrow(/tokenizer.ggml.model "bert" is not one we read/);
    expect(() =>
      fromGGUFMetadata(
        new Map<string, unknown>([
          ["tokenizer.ggml.model", "llama"],
          ["tokenizer.ggml.tokens", ["a", "b"]],
        ]),
        "f.gguf",
      ),
    ).toThrow('f.gguf: tokenizer.ggml.scores: a SentencePiece ("llama") vocabulary needs one number per token (2), found undefined');
    const meta = plain(toGGUFMetadata(trainBPE(TEXTS, { vocabSize: 280 })));
    meta.set("tokenizer.ggml.pre", "deepseek-llm");
    expect(() => fromGGUFMetadata(meta)).toThrow(/tokenizer.ggml.pre "deepseek-llm" is not a pre-tokenizer we know/);
  });

  it('a SentencePiece-style BPE travels as "llama": pieces, scores from its merge ranks, types; read back it encodes the same', () => {
    const words = ["▁", "t", "h", "e", "q", "u", "i", "c", "k", "▁t", "he", "▁the", "ui", "▁q", "ck", "▁qui", "▁quick"];
    // merge ranks deliberately not in id order: "he" (id 265+) merges before "▁t"
    const merges: [string, string][] = [
      ["h", "e"],
      ["▁", "t"],
      ["▁t", "he"],
      ["u", "i"],
      ["▁", "q"],
      ["c", "k"],
      ["▁q", "ui"],
      ["▁qui", "ck"],
    ];
    const { json, pieces } = llama2StyleJson(words, merges);
    const tok = fromTokenizerJson(json);
    const meta = toGGUFMetadata(tok);
    expect(meta.get("tokenizer.ggml.model")!.value).toBe("llama");
    expect(meta.get("tokenizer.ggml.add_space_prefix")!.value).toBe(true);
    const scores = meta.get("tokenizer.ggml.scores")!.value as number[];
    expect(scores[pieces.indexOf("he")]).toBe(-0);
    expect(scores[pieces.indexOf("▁quick")]).toBe(-7);
    expect(scores[pieces.indexOf("t")]).toBe(-(merges.length + pieces.indexOf("t"))); // below every merge
    expect((meta.get("tokenizer.ggml.token_type")!.value as number[]).slice(0, 5)).toEqual([2, 3, 3, 6, 6]);
    const back = fromGGUFMetadata(plain(meta));
    for (const text of ["the quick", " the  quick the", "thequick!", "é the"]) {
      expect(back.encode(text)).toEqual(tok.encode(text));
      expect(back.decode(back.encode(text))).toBe(tok.decode(tok.encode(text)));
    }
    expect(tok.encode("the quick")).toEqual([pieces.indexOf("▁the"), pieces.indexOf("▁quick")]);
  });
});
