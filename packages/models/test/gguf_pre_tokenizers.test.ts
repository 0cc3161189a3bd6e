import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { getLlama, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { fromGGUFMetadata, GGUF_PRE_TOKENIZER_LABELS, toGGUFMetadata, trainBPE, type Tokenizer } from "@llm/tokenizer";
import { vocabularyFile } from "./vocabulary_file.js";

/**
 * Every tokenizer.ggml.pre label we read, against llama.cpp (node-llama-cpp 3.21.1, vocabulary
 * only): a byte-level BPE trained here, written with the label, must encode as llama.cpp encodes
 * it: Brown-like prose, code, digit runs, punctuation runs, whitespace, letter case, accents, CJK, emoji.
 */
const TEXTS = [
  "The Fulton County Grand Jury said Friday an investigation of Atlanta's recent primary election produced `` no evidence '' that any irregularities took place.",
  "It's 1,234,567.89 dollars -- or $1234567; call 555-0123 (ext. 42) by 12/31/1999!!!",
  "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n",
  "  leading   spaces\ttabs\r\nand\n\n\nnewlines   ",
  "Café naïve résumé; Γειά σου Κόσμε; Привет мир; 中文文本测试，日本語のテキスト。한국어",
  "emoji 😀👍🏽 ... ??? !!! <<< >>> |||| ~~~ ^^^ +++ === $$$ `code` [x](y) {a: b}",
  "I'M SHOUTING, they're quiet, we'll see, you'd know, it's ours; Don'T",
  "XMLHttpRequest camelCase McDonald's iPhone ÉCOLE École ΣΊΣΥΦΟΣ Σίσυφος snake_case kebab-case",
  `${"x".repeat(40)} 0123456789 ${"9".repeat(25)}`,
];

const scratch = mkdtempSync(join(tmpdir(), "llm-pre-"));
let llama: Llama;
let tokenizer: Tokenizer;
beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  // the pre-tokenizer decides where merges may apply: repeated camelCase words give merges across
  // case changes (GPT-2's training split keeps them whole), which the case-splitting labels must not use
  const camel = Array.from({ length: 30 }, () => "XMLHttpRequest camelCase McDonald's iPhone ÉCOLE École");
  tokenizer = trainBPE([...TEXTS, ...TEXTS.map((t) => t.toLowerCase()), ...camel], { vocabSize: 600 });
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe.each(GGUF_PRE_TOKENIZER_LABELS)('tokenizer.ggml.pre "%s"', (label) => {
  it("encodes as llama.cpp does", async () => {
    const written = new Map(toGGUFMetadata(tokenizer));
    written.set("tokenizer.ggml.pre", { type: "string", value: label });
    const ours = fromGGUFMetadata(new Map([...written].map(([k, v]) => [k, v.value])), label);
    const path = await vocabularyFile(scratch, `${label}.gguf`, written);
    const native = await llama.loadModel({ modelPath: path, vocabOnly: true });
    try {
      for (const text of TEXTS) {
        expect(ours.encode(text, { addSpecialTokens: false }), JSON.stringify(text.slice(0, 40))).toEqual(
          Array.from(native.tokenize(text)).map(Number),
        );
      }
    } finally {
      await native.dispose();
    }
  });
});
