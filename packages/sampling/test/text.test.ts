import { describe, expect, it } from "vitest";
import { collect, generate, generateText, type TextCodec } from "../src/index.js";
import { fixture } from "./fixtures.js";

/** A byte-level codec: id = byte (ids >= 256 fold onto bytes), so multi-byte characters span ids. */
const bytes: TextCodec = {
  encode: (text) => Array.from(new TextEncoder().encode(text)),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.map((id) => id & 0xff))),
};

describe("generateText", () => {
  it("streams pieces that join to the decoded continuation, never a broken character", async () => {
    const { model } = await fixture("gpt2");
    const prompt = "héllo";
    const promptIds = bytes.encode(prompt) as number[];
    const generated = await collect(generate(model, promptIds, { maxNewTokens: 24 }));
    const pieces = await collect(generateText(model, bytes, prompt, { maxNewTokens: 24 }));
    const whole = bytes
      .decode([...promptIds, ...generated])
      .slice(prompt.length)
      .replace(/\uFFFD+$/, "");
    expect(pieces.join("")).toBe(whole);
    for (const p of pieces.slice(0, -1)) expect(p.endsWith("\uFFFD")).toBe(false);
  });

  it("ends before a stop string and never shows its first characters", async () => {
    const { model } = await fixture("gpt2");
    const all = (await collect(generateText(model, bytes, "ab", { maxNewTokens: 24 }))).join("");
    const stop = all.slice(5, 7);
    const cut = all.indexOf(stop);
    const pieces = await collect(generateText(model, bytes, "ab", { maxNewTokens: 24, stopStrings: [stop] }));
    expect(pieces.join("")).toBe(all.slice(0, cut));
  });

  it("takes the prompt as token ids too (a rendered chat template), with the same text as from the string", async () => {
    const { model } = await fixture("gpt2");
    const fromText = await collect(generateText(model, bytes, "héllo", { maxNewTokens: 12 }));
    const fromIds = await collect(generateText(model, bytes, bytes.encode("héllo") as number[], { maxNewTokens: 12 }));
    expect(fromIds.join("")).toBe(fromText.join(""));
    expect(fromIds.join("").length).toBeGreaterThan(0);
  });
});
