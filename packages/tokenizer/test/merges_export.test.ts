import { describe, expect, it } from "vitest";
import { fromTokenizerJson, toGGUFMetadata } from "../src/index.js";
import { lenmlFile } from "./helpers.js";

/**
 * A tokenizer.json read from its bytes (the fast reader, which keeps the merges only in its merge
 * table) writes the same merges back as one read from the parsed object: toJSON and
 * toGGUFMetadata used to write none for it. gemma3's merges are mostly out of token order (all in
 * the table's pair part); llama3's mostly in runs.
 */
describe("merges of a tokenizer read from bytes", () => {
  for (const model of ["llama3", "gemma3"]) {
    it(`${model}: toJSON's merges equal the file's, in rank order`, () => {
      const text = lenmlFile(model);
      const fromBytes = fromTokenizerJson(new TextEncoder().encode(text));
      const fromObject = fromTokenizerJson(JSON.parse(text));
      const merges = (fromBytes.toJSON() as { model: { merges: unknown[] } }).model.merges;
      expect(merges.length).toBeGreaterThan(100_000);
      expect(merges).toEqual((fromObject.toJSON() as { model: { merges: unknown[] } }).model.merges);
      // and the tokenizer rebuilt from what it writes encodes as the original
      const again = fromTokenizerJson(JSON.stringify(fromBytes.toJSON()));
      const sample = "The quick brown fox, jumping over 12,345 lazy dogs: naïve café — 東京タワー 🦊";
      expect(again.encode(sample)).toEqual(fromObject.encode(sample));
    });
  }

  it("toGGUFMetadata writes a fast-read tokenizer's merges", () => {
    const fromBytes = fromTokenizerJson(new TextEncoder().encode(lenmlFile("llama3")));
    const merges = toGGUFMetadata(fromBytes).get("tokenizer.ggml.merges")!.value as string[];
    expect(merges.length).toBe(280_147);
    expect(merges[0]).toBe("Ġ Ġ");
  });
});
