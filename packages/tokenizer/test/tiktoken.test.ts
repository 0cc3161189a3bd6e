import { describe, it, expect, afterAll } from "vitest";
import { get_encoding, type Tiktoken, type TiktokenEncoding } from "tiktoken";
import {
  fromTiktokenJson,
  fromTokenizerJson,
  parseTiktokenCompactRanks,
  fromTiktokenTokens,
  TIKTOKEN_PATTERNS,
  TIKTOKEN_SPECIAL_TOKENS,
  type Tokenizer,
} from "../src/index.js";
import { brownDocs, tiktokenEncoderJson, HARD_CASES, packageDir } from "./helpers.js";
import { readFileSync } from "node:fs";
import { join } from "node:path";

const ENCODINGS: TiktokenEncoding[] = ["r50k_base", "p50k_base", "cl100k_base", "o200k_base"];

/** Index of the first document whose ids differ, with both id lists around the difference. */
function firstDifference(texts: string[], ours: number[][], ref: number[][]) {
  for (let i = 0; i < texts.length; i++) {
    const a = ours[i]!;
    const b = ref[i]!;
    if (a.length !== b.length || a.some((x, j) => x !== b[j])) {
      let j = 0;
      while (j < a.length && a[j] === b[j]) j++;
      return { doc: i, at: j, ours: a.slice(Math.max(0, j - 3), j + 5), ref: b.slice(Math.max(0, j - 3), j + 5) };
    }
  }
  return null;
}

describe.each(ENCODINGS)("%s matches tiktoken", (name) => {
  let ours: Tokenizer;
  let ref: Tiktoken;
  afterAll(() => ref?.free());

  it("loads the ranks of npm tiktoken's encoder file through our loader", () => {
    ours = fromTiktokenJson(tiktokenEncoderJson(name), `tiktoken/encoders/${name}.json`);
    ref = get_encoding(name);
    // every 97th token has the bytes tiktoken gives it
    for (let id = 0; id < ours.vocabSize; id += 97) {
      if (ours.idToToken(id) === undefined) continue;
      expect(Array.from(ours.decodeBytes([id]))).toEqual(Array.from(ref.decode_single_token_bytes(id)));
    }
  });

  it("gives identical ids on the whole Brown corpus", () => {
    const docs = brownDocs();
    const a = docs.map((d) => ours.encode(d, { allowSpecial: false }));
    const b = docs.map((d) => Array.from(ref.encode_ordinary(d)));
    expect(firstDifference(docs, a, b)).toBeNull();
    expect(a.reduce((n, x) => n + x.length, 0)).toBeGreaterThan(1_000_000);
  });

  it("gives identical ids on the hard cases, with and without special tokens", () => {
    const withSpecial = HARD_CASES.map((t) => ours.encode(t));
    const refSpecial = HARD_CASES.map((t) => Array.from(ref.encode(t, "all")));
    expect(firstDifference(HARD_CASES, withSpecial, refSpecial)).toBeNull();
    const ordinary = HARD_CASES.map((t) => ours.encode(t, { allowSpecial: false }));
    const refOrdinary = HARD_CASES.map((t) => Array.from(ref.encode_ordinary(t)));
    expect(firstDifference(HARD_CASES, ordinary, refOrdinary)).toBeNull();
  });

  it("decodes to the same text and bytes as tiktoken", () => {
    for (const t of HARD_CASES) {
      const ids = ours.encode(t);
      expect(ours.decode(ids)).toBe(t);
      expect(Array.from(ours.decodeBytes(ids))).toEqual(Array.from(ref.decode(new Uint32Array(ids))));
    }
  });

  it("uses the published pattern and special tokens", () => {
    // our presets must agree with the encoder file's pat_str on real text
    const preset = fromTiktokenTokens(
      parseTiktokenCompactRanks((JSON.parse(tiktokenEncoderJson(name)) as { bpe_ranks: string }).bpe_ranks),
      {
        pattern: TIKTOKEN_PATTERNS[name as keyof typeof TIKTOKEN_PATTERNS],
        specialTokens: TIKTOKEN_SPECIAL_TOKENS[name as keyof typeof TIKTOKEN_SPECIAL_TOKENS],
      },
    );
    const docs = brownDocs().slice(0, 40).concat(HARD_CASES);
    expect(
      firstDifference(
        docs,
        docs.map((d) => preset.encode(d)),
        docs.map((d) => ours.encode(d)),
      ),
    ).toBeNull();
  });
});

describe("js-tiktoken's rank files", () => {
  it("load through the same compact-rank parser and give tiktoken's ids", () => {
    const src = readFileSync(join(packageDir("js-tiktoken"), "dist", "ranks", "cl100k_base.js"), "utf8");
    const json = JSON.parse(src.slice(src.indexOf("{"), src.lastIndexOf("}") + 1)) as {
      pat_str: string;
      special_tokens: Record<string, number>;
      bpe_ranks: string;
    };
    const tok = fromTiktokenTokens(parseTiktokenCompactRanks(json.bpe_ranks), {
      pattern: json.pat_str,
      specialTokens: json.special_tokens,
    });
    const ref = get_encoding("cl100k_base");
    const docs = brownDocs().slice(0, 50).concat(HARD_CASES);
    expect(
      firstDifference(
        docs,
        docs.map((d) => tok.encode(d)),
        docs.map((d) => Array.from(ref.encode(d, "all"))),
      ),
    ).toBeNull();
    ref.free();
  });
});

describe("saving a tiktoken encoding as tokenizer.json", () => {
  it("gives a file that we and @huggingface/tokenizers load and that encodes as tiktoken does", async () => {
    const { Tokenizer: HFTokenizer } = await import("@huggingface/tokenizers");
    const r50k = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));
    const json = r50k.toJSON() as { model: { merges: unknown[] } };
    expect(json.model.merges.length).toBe(50000); // GPT-2 has 50000 merges: one per non-byte token
    const text = JSON.stringify(json);
    const again = fromTokenizerJson(text);
    const hf = new HFTokenizer(JSON.parse(text), {});
    const ref = get_encoding("r50k_base");
    const docs = brownDocs()
      .filter((_, i) => i % 10 === 0)
      .concat(HARD_CASES);
    const expected = docs.map((d) => Array.from(ref.encode(d, "all")));
    expect(
      firstDifference(
        docs,
        docs.map((d) => again.encode(d)),
        expected,
      ),
    ).toBeNull();
    expect(
      firstDifference(
        docs,
        docs.map((d) => hf.encode(d).ids),
        expected,
      ),
    ).toBeNull();
    ref.free();
  });
});
