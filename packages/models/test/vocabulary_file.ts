import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { serializeGGUF, type GGUFValue } from "@llm/tensor";

/**
 * A vocabulary-only GGUF file that llama.cpp opens (`loadModel({ vocabOnly: true })`): a tiny
 * llama's hyper-parameters beside the tokenizer's metadata, written as `dir/name`.
 */
export async function vocabularyFile(dir: string, name: string, tokenizer: ReadonlyMap<string, GGUFValue>): Promise<string> {
  const metadata = new Map<string, GGUFValue>([
    ["general.architecture", { type: "string", value: "llama" }],
    ["llama.context_length", { type: "uint32", value: 64 }],
    ["llama.embedding_length", { type: "uint32", value: 8 }],
    ["llama.block_count", { type: "uint32", value: 1 }],
    ["llama.feed_forward_length", { type: "uint32", value: 16 }],
    ["llama.attention.head_count", { type: "uint32", value: 2 }],
    ["llama.attention.head_count_kv", { type: "uint32", value: 2 }],
    ["llama.attention.layer_norm_rms_epsilon", { type: "float32", value: 1e-5 }],
    ...tokenizer,
  ]);
  const path = join(dir, name);
  writeFileSync(path, await serializeGGUF(metadata, []));
  return path;
}
