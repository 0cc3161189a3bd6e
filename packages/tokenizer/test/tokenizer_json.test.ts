import { describe, it, expect } from "vitest";
import { fromTokenizerJson } from "../src/index.js";
import { lenmlFile, HARD_CASES, brownDocs } from "./helpers.js";

// The fast tokenizer.json reader (vocab and merges read straight from the text) must agree
// with building from the parsed object, whatever the key order, layout and escapes.
describe("reading tokenizer.json text", () => {
  const text = lenmlFile("qwen3");
  const parsed = JSON.parse(text) as Record<string, any>;
  const fromObject = fromTokenizerJson(parsed);
  const texts = [...HARD_CASES, ...brownDocs().slice(0, 5), 'quotes " and \\ backslashes \\" in text'];

  function same(json: string) {
    const t = fromTokenizerJson(json);
    expect(t.vocabSize).toBe(fromObject.vocabSize);
    for (const s of texts) expect(t.encode(s)).toEqual(fromObject.encode(s));
  }

  it("file as shipped (pretty-printed, merges as pairs, escaped tokens such as \\\" and \\\\)", () => {
    expect(text).toContain('\\"');
    same(text);
  });

  it("compact JSON with merges before the vocab and the model first", () => {
    const { model, ...rest } = parsed;
    const { vocab, merges, ...modelRest } = model;
    same(JSON.stringify({ model: { ...modelRest, merges, vocab }, ...rest }));
  });

  it("merges as 'a b' strings, and tokens written with \\u escapes", () => {
    const merges = (parsed.model.merges as [string, string][]).map(([a, b]) => `${a} ${b}`);
    const json = JSON.stringify({ ...parsed, model: { ...parsed.model, merges } }).replace(/Ġ/g, "\\u0120");
    expect(json).toContain("\\u0120");
    same(json);
  });
});
