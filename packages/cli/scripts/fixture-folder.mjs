// A model folder the CLI can run end to end, made from a fixture in fixtures/models (its files
// copied as they are) and a tokenizer trained here: the fixtures have weights but no tokenizer.
// The tokenizer is a byte-level BPE of the fixture's vocabulary size (512) trained on the first
// Brown corpus documents, with ChatML's special tokens, and tokenizer_config.json carries the
// ChatML chat template.
//
//   node packages/cli/scripts/fixture-folder.mjs [llama|gpt2|...] OUT_DIR
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { trainBPE } from "@llm/tokenizer";
import { brownLines } from "./brown-lines.mjs";

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

const FIXTURES = fileURLToPath(new URL("../../../fixtures/models/", import.meta.url));

/** Writes the folder and returns its path. */
export function fixtureFolder(name, out) {
  const fixture = join(FIXTURES, name);
  mkdirSync(out, { recursive: true });
  for (const file of ["config.json", "model.safetensors", "generation_config.json"]) {
    if (existsSync(join(fixture, file))) copyFileSync(join(fixture, file), join(out, file));
  }
  const tokenizer = trainBPE(brownLines(12), { vocabSize: 512, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] });
  writeFileSync(join(out, "tokenizer.json"), JSON.stringify(tokenizer.toJSON()));
  writeFileSync(
    join(out, "tokenizer_config.json"),
    `${JSON.stringify({ bos_token: null, eos_token: "<|im_end|>", pad_token: "<|endoftext|>", chat_template: CHATML_TEMPLATE }, null, 2)}\n`,
  );
  return out;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [name = "llama", out] = process.argv.slice(2);
  if (!out) {
    console.error("usage: node fixture-folder.mjs FIXTURE OUT_DIR");
    process.exit(2);
  }
  console.log(fixtureFolder(name, out));
}
