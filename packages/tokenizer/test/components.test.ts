import { describe, it, expect } from "vitest";
import { Tokenizer as HFTokenizer } from "@huggingface/tokenizers";
import { fromTokenizerJson } from "../src/index.js";
import { brownDocs, lenmlFile, HARD_CASES, LLAMA2_PIPELINE } from "./helpers.js";

// Other normalizers, pre-tokenizers and decoders, checked against @huggingface/tokenizers by
// giving real vocabularies (Gemma 3's SentencePiece-style BPE with byte fallback, Llama 3's
// byte-level BPE) other pipelines.
const texts = [
  ...HARD_CASES,
  ...brownDocs()
    .slice(0, 8)
    .map((d) => d.slice(0, 3000)),
];

function check(json: Record<string, unknown>, skip: (t: string) => boolean = () => false) {
  const ours = fromTokenizerJson(json);
  const ref = new HFTokenizer(json as never, {});
  for (const t of texts) {
    if (skip(t)) continue;
    const ids = ours.encode(t);
    const refIds = ref.encode(t).ids;
    expect({ t, ids }).toEqual({ t, ids: refIds });
    if (ids.length > 0) expect(ours.decode(ids)).toBe(ref.decode(ids, { clean_up_tokenization_spaces: false }));
  }
}

describe("pipelines on Gemma 3's vocabulary (byte fallback)", () => {
  const gemma = JSON.parse(lenmlFile("gemma3")) as Record<string, unknown>;
  const ws = (gemma.added_tokens as { content: string }[]).filter((t) => !/^[\t\n▁]+$/.test(t.content));

  it("Llama 2 style: Prepend + Replace normalizers; Replace, ByteFallback, Fuse, Strip decoders", () => {
    check({
      ...gemma,
      added_tokens: ws,
      ...LLAMA2_PIPELINE,
    });
  });

  it("NFKC normalizer, Metaspace pre-tokenizer and decoder, Digits", () => {
    check(
      {
        ...gemma,
        added_tokens: ws,
        normalizer: { type: "NFKC" },
        pre_tokenizer: {
          type: "Sequence",
          pretokenizers: [
            { type: "Digits", individual_digits: true },
            // tokenizers.js ignores `split` (it never splits at "▁"; the Rust library does), so the
            // comparison uses split: false; splitting is covered in pre_tokenizers.test.ts
            { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: false },
          ],
        },
        post_processor: {
          type: "TemplateProcessing",
          single: [
            { SpecialToken: { id: "<bos>", type_id: 0 } },
            { Sequence: { id: "A", type_id: 0 } },
            { SpecialToken: { id: "<eos>", type_id: 0 } },
          ],
          pair: [],
          special_tokens: { "<bos>": { id: "<bos>", ids: [2], tokens: ["<bos>"] }, "<eos>": { id: "<eos>", ids: [1], tokens: ["<eos>"] } },
        },
        decoder: {
          type: "Sequence",
          decoders: [{ type: "ByteFallback" }, { type: "Metaspace", replacement: "▁", prepend_scheme: "always", split: true }],
        },
        // tokenizers.js's Digits uses JavaScript's ASCII \d; the Rust library (and we) use
        // char::is_numeric, i.e. every Unicode number: texts with other digits differ by design
      },
      (t) => /[^\P{N}0-9]/u.test(t),
    );
  });
});

describe("pipelines on Llama 3's vocabulary (byte-level)", () => {
  // biome-ignore lint/suspicious/noExplicitAny: tests reach into and mutate parsed tokenizer JSON freely
  const llama = JSON.parse(lenmlFile("llama3")) as Record<string, any>;

  it("GPT-2's ByteLevel pre-tokenizer with its own regex, Lowercase + NFD normalizers", () => {
    check({
      ...llama,
      normalizer: { type: "Sequence", normalizers: [{ type: "Lowercase" }, { type: "NFD" }] },
      pre_tokenizer: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      post_processor: null,
    });
  });

  it("Digits and a Split regex before ByteLevel", () => {
    check({
      ...llama,
      pre_tokenizer: {
        type: "Sequence",
        pretokenizers: [{ type: "Digits", individual_digits: false }, ...llama.pre_tokenizer.pretokenizers],
      },
    });
  });
});
