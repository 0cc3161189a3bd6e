import { fromGGUFMetadata, ggufPreTokenizerAddsBos, toGGUFMetadata, type GGUFTokenizerValue, type Tokenizer } from "@llm/tokenizer";
import { PretrainedError } from "./errors.js";
import { parseTokenizerConfig, tokenizerFromFiles, type TokenizerConfig } from "./tokenizer_config.js";

/**
 * What a GGUF file says besides its weights, in the shapes a model folder's files give: the
 * tokenizer (tokenizer.ggml.*, as @llm/tokenizer's fromGGUFMetadata reads it), a tokenizer_config
 * (special tokens by id, add_bos_token / add_eos_token, tokenizer.chat_template and its named
 * variants) and the bos/eos/pad ids a config.json would hold.
 */
export interface GGUFText {
  readonly tokenizer: Tokenizer;
  readonly tokenizerConfig: TokenizerConfig;
  readonly chatTemplates: Readonly<Record<string, string>>;
  /** bos_token_id, eos_token_id, pad_token_id where the file names them (for generation defaults). */
  readonly tokenIds: Readonly<Record<string, number>>;
}

/** llama.cpp's special token ids in GGUF metadata -> tokenizer_config.json's names. */
const SPECIAL_IDS: Readonly<Record<string, string>> = {
  "tokenizer.ggml.bos_token_id": "bos_token",
  "tokenizer.ggml.eos_token_id": "eos_token",
  "tokenizer.ggml.unknown_token_id": "unk_token",
  "tokenizer.ggml.padding_token_id": "pad_token",
  "tokenizer.ggml.seperator_token_id": "sep_token",
  "tokenizer.ggml.cls_token_id": "cls_token",
  "tokenizer.ggml.mask_token_id": "mask_token",
};

/**
 * The tokenizer and its settings from a GGUF file's metadata. Throws a PretrainedError when the
 * file has no tokenizer or one we do not read (we read byte-level BPE, tokenizer.ggml.model "gpt2",
 * and SentencePiece BPE, "llama"; unigram "t5" and WordPiece "bert" are not read yet), saying what was found.
 */
export function ggufText(metadata: ReadonlyMap<string, unknown>, source: string): GGUFText {
  const model = metadata.get("tokenizer.ggml.model");
  if (model === undefined) throw new PretrainedError(`${source}: holds no tokenizer (no tokenizer.ggml.* metadata)`);
  let tokenizer: Tokenizer;
  try {
    tokenizer = fromGGUFMetadata(metadata, source);
  } catch (error) {
    throw new PretrainedError((error as Error).message);
  }
  const tokens = metadata.get("tokenizer.ggml.tokens") as readonly string[];
  const config: Record<string, unknown> = {};
  const tokenIds: Record<string, number> = {};
  for (const [key, name] of Object.entries(SPECIAL_IDS)) {
    const id = metadata.get(key);
    if (id === undefined) continue;
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0 || id >= tokens.length) {
      throw new PretrainedError(`${source}: ${key}: expected a token id below ${tokens.length}, found ${JSON.stringify(id)}`);
    }
    config[name] = tokens[id];
    if (name === "bos_token" || name === "eos_token" || name === "pad_token") tokenIds[`${name}_id`] = id;
  }
  const pre = String(metadata.get("tokenizer.ggml.pre") ?? "default");
  const addBos = metadata.get("tokenizer.ggml.add_bos_token");
  const addEos = metadata.get("tokenizer.ggml.add_eos_token");
  // llama.cpp adds bos by default for SentencePiece vocabularies and Llama 3's pre-tokenizer labels
  const bosByDefault = model === "llama" || (model === "gpt2" && ggufPreTokenizerAddsBos(pre));
  config.add_bos_token = typeof addBos === "boolean" ? addBos : bosByDefault && config.bos_token !== undefined;
  if (typeof addEos === "boolean") config.add_eos_token = addEos;
  const templates = chatTemplates(metadata, source);
  if (Object.keys(templates).length) {
    config.chat_template =
      Object.keys(templates).length === 1 && templates.default
        ? templates.default
        : Object.entries(templates).map(([name, template]) => ({ name, template }));
  }
  const tokenizerConfig = parseTokenizerConfig(config, `${source} (tokenizer.ggml.*)`);
  const json = new TextEncoder().encode(JSON.stringify(tokenizer.toJSON()));
  return {
    tokenizer: tokenizerFromFiles({ tokenizerJson: json }, tokenizerConfig, source),
    tokenizerConfig,
    chatTemplates: templates,
    tokenIds,
  };
}

/** tokenizer.chat_template ("default") and tokenizer.chat_template.NAME for each name tokenizer.chat_templates lists. */
function chatTemplates(metadata: ReadonlyMap<string, unknown>, source: string): Record<string, string> {
  const out: Record<string, string> = {};
  const main = metadata.get("tokenizer.chat_template");
  if (main !== undefined) {
    if (typeof main !== "string") throw new PretrainedError(`${source}: tokenizer.chat_template: expected a string`);
    out.default = main;
  }
  const names = metadata.get("tokenizer.chat_templates");
  for (const name of Array.isArray(names) ? names : []) {
    const template = metadata.get(`tokenizer.chat_template.${String(name)}`);
    if (typeof template === "string") out[String(name)] = template;
  }
  return out;
}

/**
 * The tokenizer.ggml.* and tokenizer.chat_template metadata of a model folder's tokenizer, for a
 * GGUF file llama.cpp runs: the vocabulary and merges or scores (byte-level BPE as "gpt2",
 * SentencePiece-style byte-fallback BPE as "llama": @llm/tokenizer's toGGUFMetadata), bos/eos/pad/unk ids from tokenizer_config.json, whether encoding adds bos and
 * eos (as the tokenizer does it), and the chat templates.
 */
export function ggufTokenizerMetadata(
  tokenizer: Tokenizer,
  tokenizerConfig: TokenizerConfig | null,
  chatTemplates: Readonly<Record<string, string>> = {},
): Map<string, GGUFTokenizerValue> {
  const special = tokenizerConfig?.specialTokens ?? {};
  const metadata = new Map<string, GGUFTokenizerValue>(toGGUFMetadata(tokenizer, { bos: special.bos_token, eos: special.eos_token }));
  const idKeys: Record<string, string | undefined> = {
    "tokenizer.ggml.unknown_token_id": special.unk_token,
    "tokenizer.ggml.padding_token_id": special.pad_token,
  };
  for (const [key, token] of Object.entries(idKeys)) {
    const id = token === undefined ? undefined : tokenizer.tokenToId(token);
    if (id !== undefined) metadata.set(key, { type: "uint32", value: id });
  }
  // what encoding adds, found by encoding: tokenizer.json's post-processor or tokenizer_config's flags
  const plain = tokenizer.encode("a", { addSpecialTokens: false });
  const full = tokenizer.encode("a", { addSpecialTokens: true });
  const bos = metadata.get("tokenizer.ggml.bos_token_id")?.value;
  const eos = metadata.get("tokenizer.ggml.eos_token_id")?.value;
  const addsBos = full.length > plain.length && full[0] === bos;
  const addsEos = full.length > plain.length && full.at(-1) === eos;
  metadata.set("tokenizer.ggml.add_bos_token", { type: "bool", value: addsBos });
  metadata.set("tokenizer.ggml.add_eos_token", { type: "bool", value: addsEos });
  const { default: main, ...named } = chatTemplates;
  if (main !== undefined) metadata.set("tokenizer.chat_template", { type: "string", value: main });
  if (Object.keys(named).length) {
    metadata.set("tokenizer.chat_templates", { type: "array", itemType: "string", value: Object.keys(named) });
    for (const [name, template] of Object.entries(named))
      metadata.set(`tokenizer.chat_template.${name}`, { type: "string", value: template });
  }
  return metadata;
}
