import type { Tokenizer } from "../tokenizer.js";
import { TokenizerError } from "../utils/errors.js";
import { fromSentencePieceGGUF, sentencePieceStyle, sentencePieceVocabulary } from "./gguf_llama.js";
import { PRE_TOKENIZERS, preTokenizerJson, WRITTEN_LABELS } from "./gguf_pre_tokenizers.js";
import { addedTokensOf, TOKEN_TYPE, vocabOf } from "./gguf_vocab.js";
import { fromTokenizerJson } from "./tokenizer_json.js";

/**
 * Tokenizers in GGUF metadata (llama.cpp's tokenizer.ggml.* keys), both ways, for byte-level BPE
 * ("gpt2" in GGUF: GPT-2, GPT-NeoX, BLOOM-style, Llama 3, Qwen 2 vocabularies) and SentencePiece
 * BPE ("llama": LLaMA 1/2, Mistral, TinyLlama, Gemma; gguf_llama.ts). GGUF names the byte-level
 * pre-tokenizer by a label (tokenizer.ggml.pre) instead of storing it: the labels we know are in
 * gguf_pre_tokenizers.ts; another is an error naming it. SentencePiece unigram ("t5") and WordPiece
 * ("bert") vocabularies are errors naming the model.
 */

/** A GGUF metadata value as @llm/tensor's GGUF writer takes it (this package stands alone). */
export type GGUFTokenizerValue =
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "uint32" | "int32"; readonly value: number }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "array"; readonly itemType: "string" | "int32" | "float32"; readonly value: readonly (string | number)[] };

export interface ToGGUFOptions {
  /** The token llama.cpp starts (bos) and ends (eos) a sequence with; default "<|endoftext|>" when the vocab has it. */
  bos?: string;
  eos?: string;
}

/**
 * The tokenizer.ggml.* metadata of a BPE tokenizer, for a GGUF file: byte-level BPE as "gpt2",
 * byte-fallback BPE with SentencePiece's spaces (LLaMA 2's tokenizer.json) as "llama".
 */
export function toGGUFMetadata(tokenizer: Tokenizer, options: ToGGUFOptions = {}): Map<string, GGUFTokenizerValue> {
  const json = tokenizer.toJSON() as {
    model: Record<string, unknown> & { merges: (string | [string, string])[] };
    normalizer: unknown;
    pre_tokenizer: unknown;
    added_tokens: { id: number; content: string; special: boolean }[];
  };
  const model = json.model;
  if (model.type !== "BPE") throw new TokenizerError(`toGGUFMetadata: expected a BPE tokenizer, found model type ${String(model.type)}`);
  const sentencePiece = sentencePieceStyle(json);
  if (sentencePiece) return sentencePieceMetadata(tokenizer, json, sentencePiece.addSpacePrefix, options);
  const pre = preLabel(json.pre_tokenizer);
  const size = tokenizer.vocabSize;
  const tokens: string[] = new Array(size);
  const types: number[] = new Array(size).fill(TOKEN_TYPE.NORMAL);
  for (let id = 0; id < size; id++) {
    const token = tokenizer.idToToken(id);
    if (token === undefined) throw new TokenizerError(`toGGUFMetadata: GGUF needs ids 0..${size - 1} without gaps; id ${id} has no token`);
    tokens[id] = token;
  }
  for (const t of json.added_tokens) types[t.id] = t.special ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED;
  const merges = (model.merges as (string | [string, string])[]).map((m) => (typeof m === "string" ? m : `${m[0]} ${m[1]}`));
  const out = new Map<string, GGUFTokenizerValue>([
    ["tokenizer.ggml.model", { type: "string", value: "gpt2" }],
    ["tokenizer.ggml.pre", { type: "string", value: pre }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: types }],
    ["tokenizer.ggml.merges", { type: "array", itemType: "string", value: merges }],
  ]);
  const idOf = (token: string | undefined, key: string): number | undefined => {
    if (token === undefined) return tokenizer.tokenToId("<|endoftext|>");
    const id = tokenizer.tokenToId(token);
    if (id === undefined)
      throw new TokenizerError(`toGGUFMetadata: options.${key}: ${JSON.stringify(token)} is not a token of this vocabulary`);
    return id;
  };
  const bos = idOf(options.bos, "bos");
  const eos = idOf(options.eos, "eos");
  if (bos !== undefined) out.set("tokenizer.ggml.bos_token_id", { type: "uint32", value: bos });
  if (eos !== undefined) out.set("tokenizer.ggml.eos_token_id", { type: "uint32", value: eos });
  out.set("tokenizer.ggml.add_bos_token", { type: "bool", value: false });
  return out;
}

/** "llama" metadata: the pieces, their scores and types (gguf_llama.ts); bos/eos default to <s> and </s>. */
function sentencePieceMetadata(
  tokenizer: Tokenizer,
  json: Parameters<typeof sentencePieceVocabulary>[1],
  addSpacePrefix: boolean,
  options: ToGGUFOptions,
): Map<string, GGUFTokenizerValue> {
  const { tokens, scores, types, unkId } = sentencePieceVocabulary(tokenizer, json);
  const out = new Map<string, GGUFTokenizerValue>([
    ["tokenizer.ggml.model", { type: "string", value: "llama" }],
    ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
    ["tokenizer.ggml.scores", { type: "array", itemType: "float32", value: scores }],
    ["tokenizer.ggml.token_type", { type: "array", itemType: "int32", value: types }],
    ["tokenizer.ggml.add_space_prefix", { type: "bool", value: addSpacePrefix }],
  ]);
  for (const [key, token, fallback] of [
    ["bos", options.bos, "<s>"],
    ["eos", options.eos, "</s>"],
  ] as const) {
    const id = tokenizer.tokenToId(token ?? fallback);
    if (token !== undefined && id === undefined)
      throw new TokenizerError(`toGGUFMetadata: options.${key}: ${JSON.stringify(token)} is not a token of this vocabulary`);
    if (id !== undefined) out.set(`tokenizer.ggml.${key}_token_id`, { type: "uint32", value: id });
  }
  if (unkId !== undefined) out.set("tokenizer.ggml.unknown_token_id", { type: "uint32", value: unkId });
  out.set("tokenizer.ggml.add_bos_token", { type: "bool", value: false });
  return out;
}

/** Which GGUF pre-tokenizer label a tokenizer.json pre_tokenizer is. */
function preLabel(pre: unknown): string {
  const p = pre as { type?: string; use_regex?: boolean; pretokenizers?: { type?: string; pattern?: { Regex?: string } }[] } | null;
  if (p?.type === "ByteLevel" && p.use_regex !== false) return "gpt-2";
  const splits = p?.type === "Sequence" ? (p.pretokenizers ?? []).filter((x) => x.type === "Split") : [];
  const regex = splits.length === 1 ? splits[0]!.pattern?.Regex : undefined;
  if (regex !== undefined && WRITTEN_LABELS[regex]) return WRITTEN_LABELS[regex];
  throw new TokenizerError(
    `toGGUFMetadata: llama.cpp names pre-tokenizers by label; this one (${JSON.stringify(pre)?.slice(0, 120)}) is none we write (gpt-2, ${Object.values(WRITTEN_LABELS).join(", ")})`,
  );
}

/** A tokenizer from a GGUF file's metadata (tokenizer.ggml.*), as llama.cpp reads it. */
export function fromGGUFMetadata(metadata: ReadonlyMap<string, unknown>, source = "GGUF"): Tokenizer {
  const model = metadata.get("tokenizer.ggml.model");
  if (model === "llama") return fromSentencePieceGGUF(metadata, source);
  if (model !== "gpt2") {
    throw new TokenizerError(
      `${source}: tokenizer.ggml.model ${JSON.stringify(model)} is not one we read (we read "gpt2": byte-level BPE, and "llama": SentencePiece BPE)`,
    );
  }
  const tokens = metadata.get("tokenizer.ggml.tokens");
  const merges = metadata.get("tokenizer.ggml.merges");
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string"))
    throw new TokenizerError(`${source}: tokenizer.ggml.tokens: expected an array of strings`);
  if (!Array.isArray(merges)) throw new TokenizerError(`${source}: tokenizer.ggml.merges: expected an array of strings`);
  const types = (metadata.get("tokenizer.ggml.token_type") as number[] | undefined) ?? [];
  const preName = String(metadata.get("tokenizer.ggml.pre") ?? "default");
  if (!(preName in PRE_TOKENIZERS)) {
    throw new TokenizerError(
      `${source}: tokenizer.ggml.pre "${preName}" is not a pre-tokenizer we know (${Object.keys(PRE_TOKENIZERS).join(", ")})`,
    );
  }
  const pre = PRE_TOKENIZERS[preName]!;
  const vocab = vocabOf(tokens);
  const added = addedTokensOf(tokens, (id) => types[id] ?? TOKEN_TYPE.NORMAL, false);
  return fromTokenizerJson(
    {
      version: "1.0",
      added_tokens: added,
      normalizer: null,
      pre_tokenizer: preTokenizerJson(pre),
      post_processor: null,
      decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
      model: {
        type: "BPE",
        dropout: null,
        unk_token: null,
        continuing_subword_prefix: null,
        end_of_word_suffix: null,
        fuse_unk: false,
        byte_fallback: false,
        ignore_merges: pre.ignoreMerges,
        vocab,
        merges,
      },
    },
    `${source} (tokenizer.ggml.*)`,
  );
}
