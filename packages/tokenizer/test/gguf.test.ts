import { describe, expect, it } from "vitest";
import { fromGGUFMetadata, fromTokenizerJson, toGGUFMetadata, trainBPE } from "@llm/tokenizer";

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
    expect(() => fromGGUFMetadata(new Map([["tokenizer.ggml.model", "llama"]]))).toThrow(/tokenizer.ggml.model "llama" is not one we read/);
    const meta = plain(toGGUFMetadata(trainBPE(TEXTS, { vocabSize: 280 })));
    meta.set("tokenizer.ggml.pre", "deepseek-llm");
    expect(() => fromGGUFMetadata(meta)).toThrow(/tokenizer.ggml.pre "deepseek-llm" is not a pre-tokenizer we know/);
  });
});
