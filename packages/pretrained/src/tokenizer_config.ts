import { fromGpt2Files, fromTokenizerJson, TemplateProcessing, Tokenizer, type AddedToken } from "@llm/tokenizer";
import { PretrainedError } from "./errors.js";

/** The named special tokens of tokenizer_config.json (transformers' SPECIAL_TOKENS_ATTRIBUTES). */
const NAMED_TOKENS = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"] as const;
export type NamedToken = (typeof NAMED_TOKENS)[number];

/** What tokenizer_config.json says, in the form the rest of the package uses. */
export interface TokenizerConfig {
  /** bos_token, eos_token, ... as strings (null or absent where the file has none). */
  readonly specialTokens: Readonly<Partial<Record<NamedToken, string>>>;
  /** extra_special_tokens given as names (Gemma 3's boi_token, image_token, ...). */
  readonly extraSpecialTokens: Readonly<Record<string, string>>;
  /** additional_special_tokens (and extra_special_tokens given as a list). */
  readonly additionalSpecialTokens: readonly string[];
  /** add_bos_token / add_eos_token when the file sets them (null: it does not, and tokenizer.json's post-processor stands). */
  readonly addBosToken: boolean | null;
  readonly addEosToken: boolean | null;
  /** clean_up_tokenization_spaces, and the flag transformers 5 needs besides it to apply the clean-up to a BPE tokenizer. */
  readonly cleanUpTokenizationSpaces: boolean;
  readonly cleanUpForBpe: boolean;
  /** Chat templates by name ("default" for a single one); empty when the file has none. */
  readonly chatTemplates: Readonly<Record<string, string>>;
  readonly modelMaxLength: number | null;
  /** added_tokens_decoder, as added tokens. */
  readonly addedTokens: readonly AddedToken[];
  /** The file as parsed. */
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Parses tokenizer_config.json (and, for older repositories, special_tokens_map.json's tokens,
 * which the config overrides). Token values may be strings or AddedToken objects ({content, ...}).
 */
export function parseTokenizerConfig(
  config: Record<string, unknown> | null,
  source: string,
  specialTokensMap: Record<string, unknown> | null = null,
): TokenizerConfig {
  const raw = { ...(specialTokensMap ?? {}), ...(config ?? {}) };
  const specialTokens: Partial<Record<NamedToken, string>> = {};
  for (const name of NAMED_TOKENS) {
    const value = tokenContent(raw[name], `${source}: ${name}`);
    if (value !== null) specialTokens[name] = value;
  }
  const extraSpecialTokens: Record<string, string> = {};
  const additional: string[] = [];
  const extra = raw.extra_special_tokens;
  if (Array.isArray(extra))
    additional.push(...extra.map((t, i) => tokenContent(t, `${source}: extra_special_tokens[${i}]`)!).filter(Boolean));
  else if (extra && typeof extra === "object") {
    for (const [name, t] of Object.entries(extra)) {
      const value = tokenContent(t, `${source}: extra_special_tokens.${name}`);
      if (value !== null) extraSpecialTokens[name] = value;
    }
  }
  if (Array.isArray(raw.additional_special_tokens)) {
    raw.additional_special_tokens.forEach((t, i) => {
      const value = tokenContent(t, `${source}: additional_special_tokens[${i}]`);
      if (value !== null && !additional.includes(value)) additional.push(value);
    });
  }
  return {
    specialTokens,
    extraSpecialTokens,
    additionalSpecialTokens: additional,
    addBosToken: optionalBoolean(raw.add_bos_token, `${source}: add_bos_token`),
    addEosToken: optionalBoolean(raw.add_eos_token, `${source}: add_eos_token`),
    cleanUpTokenizationSpaces: optionalBoolean(raw.clean_up_tokenization_spaces, `${source}: clean_up_tokenization_spaces`) ?? false,
    cleanUpForBpe:
      optionalBoolean(
        raw.clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output,
        `${source}: clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output`,
      ) ?? false,
    chatTemplates: chatTemplates(raw.chat_template, `${source}: chat_template`),
    modelMaxLength: typeof raw.model_max_length === "number" && raw.model_max_length < 1e20 ? raw.model_max_length : null,
    addedTokens: addedTokensDecoder(raw.added_tokens_decoder, `${source}: added_tokens_decoder`),
    raw,
  };
}

/** A token as a string: "<s>", {"content": "<s>", ...}, or null. */
function tokenContent(value: unknown, where: string): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object" && typeof (value as { content?: unknown }).content === "string")
    return (value as { content: string }).content;
  throw new PretrainedError(`${where}: expected a token string or {"content": ...}, found ${JSON.stringify(value)}`);
}

function optionalBoolean(value: unknown, where: string): boolean | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "boolean") throw new PretrainedError(`${where}: expected true or false, found ${JSON.stringify(value)}`);
  return value;
}

/** chat_template is a string, or a list of {name, template} (transformers picks "default", or "tool_use" when tools are given). */
function chatTemplates(value: unknown, where: string): Record<string, string> {
  if (value === undefined || value === null) return {};
  if (typeof value === "string") return { default: value };
  if (Array.isArray(value)) {
    const out: Record<string, string> = {};
    value.forEach((t, i) => {
      const { name, template } = (t ?? {}) as { name?: unknown; template?: unknown };
      if (typeof name !== "string" || typeof template !== "string")
        throw new PretrainedError(
          `${where}[${i}]: expected {"name": string, "template": string}, found ${JSON.stringify(t)?.slice(0, 80)}`,
        );
      out[name] = template;
    });
    return out;
  }
  throw new PretrainedError(
    `${where}: expected a template string or a list of {name, template}, found ${JSON.stringify(value)?.slice(0, 80)}`,
  );
}

function addedTokensDecoder(value: unknown, where: string): AddedToken[] {
  if (value === undefined || value === null) return [];
  if (typeof value !== "object" || Array.isArray(value))
    throw new PretrainedError(`${where}: expected an object of id -> token, found ${JSON.stringify(value)?.slice(0, 80)}`);
  return Object.entries(value as Record<string, Record<string, unknown>>).map(([id, t]) => {
    if (!/^\d+$/.test(id) || typeof t?.content !== "string")
      throw new PretrainedError(`${where}.${id}: expected an id and {"content": ...}, found ${JSON.stringify(t)?.slice(0, 80)}`);
    return {
      id: Number(id),
      content: t.content,
      special: t.special === true,
      normalized: t.normalized === true,
      lstrip: t.lstrip === true,
      rstrip: t.rstrip === true,
      singleWord: t.single_word === true,
    };
  });
}

/** The template variables transformers passes from the tokenizer (its special_tokens_map): bos_token, eos_token, ... as strings. */
export function templateTokens(config: TokenizerConfig | null): Record<string, string> {
  return config ? { ...config.specialTokens, ...config.extraSpecialTokens } : {};
}

/** The files a tokenizer is read from. */
export interface TokenizerFiles {
  tokenizerJson?: Uint8Array | null;
  vocabJson?: Uint8Array | null;
  mergesTxt?: Uint8Array | null;
}

/**
 * The tokenizer as transformers 5 builds it from a folder: tokenizer.json (or GPT-2's vocab.json
 * + merges.txt), then tokenizer_config.json: its added tokens and special tokens that tokenizer.json
 * lacks are added, and where it sets add_bos_token or add_eos_token the post-processor becomes
 * `[bos] $A [eos]` accordingly (transformers' update_post_processor).
 */
export function tokenizerFromFiles(files: TokenizerFiles, config: TokenizerConfig | null, location: string): Tokenizer {
  let tokenizer: Tokenizer;
  if (files.tokenizerJson) tokenizer = fromTokenizerJson(files.tokenizerJson, `${location}/tokenizer.json`);
  else if (files.vocabJson && files.mergesTxt) {
    const text = new TextDecoder();
    tokenizer = fromGpt2Files(text.decode(files.vocabJson), text.decode(files.mergesTxt));
  } else throw new PretrainedError(`${location}: expected tokenizer.json (or vocab.json and merges.txt), found neither`);
  if (!config) return tokenizer;
  for (const t of config.addedTokens) {
    const existing = tokenizer.tokenToId(t.content);
    if (existing === undefined) tokenizer.addTokens([{ ...t }], t.special);
  }
  const special = [...Object.values(config.specialTokens), ...Object.values(config.extraSpecialTokens), ...config.additionalSpecialTokens];
  const missing = special.filter((t) => tokenizer.tokenToId(t) === undefined);
  if (missing.length > 0) tokenizer.addSpecialTokens([...new Set(missing)]);
  if (config.addBosToken === null && config.addEosToken === null) return tokenizer;
  return withBosEos(tokenizer, config);
}

/** The tokenizer with transformers' `{bos} $A {eos}` post-processor. */
function withBosEos(tokenizer: Tokenizer, config: TokenizerConfig): Tokenizer {
  const piece = (name: string) => ({ SpecialToken: { id: name, type_id: 0 } });
  const seq = (id: "A" | "B", typeId: number) => ({ Sequence: { id, type_id: typeId } });
  const specials: Record<string, { id: string; ids: number[]; tokens: string[] }> = {};
  const use = (token: string | undefined, on: boolean | null) => {
    if (!on || token === undefined) return null;
    specials[token] = { id: token, ids: [tokenizer.tokenToId(token)!], tokens: [token] };
    return token;
  };
  const bos = use(config.specialTokens.bos_token, config.addBosToken);
  const eos = use(config.specialTokens.eos_token, config.addEosToken);
  const single = [...(bos ? [piece(bos)] : []), seq("A", 0), ...(eos ? [piece(eos)] : [])];
  const pair = [
    ...single,
    ...(bos ? [{ SpecialToken: { id: bos, type_id: 1 } }] : []),
    seq("B", 1),
    ...(eos ? [{ SpecialToken: { id: eos, type_id: 1 } }] : []),
  ];
  return new Tokenizer({
    model: tokenizer.model,
    normalizer: tokenizer.normalizer,
    preTokenizer: tokenizer.preTokenizer,
    postProcessor: new TemplateProcessing(single, pair, specials),
    decoder: tokenizer.decoder,
    addedTokens: [...tokenizer.addedTokens],
  });
}

/** transformers' clean_up_tokenization: spaces before punctuation and contractions removed. */
export function cleanUpTokenization(text: string): string {
  return text
    .replaceAll(" .", ".")
    .replaceAll(" ?", "?")
    .replaceAll(" !", "!")
    .replaceAll(" ,", ",")
    .replaceAll(" ' ", "'")
    .replaceAll(" n't", "n't")
    .replaceAll(" 'm", "'m")
    .replaceAll(" 's", "'s")
    .replaceAll(" 've", "'ve")
    .replaceAll(" 're", "'re");
}
