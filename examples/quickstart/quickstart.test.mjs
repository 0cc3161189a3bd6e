// Runs the README's quickstart on a checkpoint folder made here: the GPT-2 fixture's weights with a
// 512-token BPE trained on a slice of the Brown corpus (the fixture's vocabulary size).
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { trainBPE } from "@llm/tokenizer";
import { afterAll, expect, it } from "vitest";
import { readBrown } from "../demo/brown.mjs";
import { quickstart } from "./quickstart.mjs";

const fixture = fileURLToPath(new URL("../../fixtures/models/gpt2/", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "llm-quickstart-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it("loads, tokenizes, generates and trains a step, as the README shows", async () => {
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(fixture, f), join(dir, f));
  const sentences = readBrown()
    .slice(0, 20)
    .flatMap((doc) => doc.sentences);
  const tokenizer = trainBPE(sentences, { vocabSize: 512, specialTokens: ["<|endoftext|>"] });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(tokenizer.toJSON()));
  const lines = [];
  const result = await quickstart(dir, (line) => lines.push(line));
  expect(result.ids.length).toBeGreaterThan(5);
  expect(result.ids.every((id) => id >= 0 && id < 512)).toBe(true);
  expect(result.text.length).toBeGreaterThan(0);
  expect(Number.isFinite(result.loss)).toBe(true);
  expect(lines).toHaveLength(3);
}, 120_000);

it("is the code the README opens with", () => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8");
  const block = /```js\n([\s\S]*?)```/.exec(readme)?.[1] ?? "";
  const script = readFileSync(new URL("./quickstart.mjs", import.meta.url), "utf8");
  // every statement of the README's block (but the lines that print) is in the tested script
  const statements = block
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line && !line.startsWith("//") && !line.startsWith("const dir") && !line.includes("process.stdout") && line !== "}");
  expect(statements.length).toBeGreaterThan(10);
  for (const line of statements) expect(script, line).toContain(line.replace(/ \{$/, ""));
});
