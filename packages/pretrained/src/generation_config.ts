import type { LogitsProcessor } from "@llm/sampling";
import type { Rng } from "@llm/tensor";
import { PretrainedArgumentError, PretrainedError } from "./errors.js";

/** generation_config.json as transformers reads it (or, without one, the token ids of config.json). */
export interface GenerationConfig {
  /** eos_token_id (one or a list): generation stops at any of these. */
  readonly eosTokenIds: readonly number[];
  readonly bosTokenId: number | null;
  readonly padTokenId: number | null;
  readonly doSample: boolean | null;
  readonly temperature: number | null;
  readonly topK: number | null;
  readonly topP: number | null;
  readonly minP: number | null;
  readonly repetitionPenalty: number | null;
  readonly maxNewTokens: number | null;
  readonly maxLength: number | null;
  /** True when it came from config.json because the folder has no generation_config.json. */
  readonly fromModelConfig: boolean;
  readonly raw: Readonly<Record<string, unknown>>;
}

/**
 * Parses generation_config.json; without one, transformers takes bos/eos/pad ids from config.json
 * (GenerationConfig.from_model_config), and so does this.
 */
export function parseGenerationConfig(
  file: Record<string, unknown> | null,
  modelConfig: Record<string, unknown>,
  source: string,
): GenerationConfig {
  const raw = file ?? pick(modelConfig, ["bos_token_id", "eos_token_id", "pad_token_id"]);
  const where = file ? `${source}/generation_config.json` : `${source}/config.json`;
  const int = (key: string) => optionalNumber(raw[key], `${where}: ${key}`, true);
  const num = (key: string) => optionalNumber(raw[key], `${where}: ${key}`, false);
  const eos = raw.eos_token_id;
  const eosTokenIds =
    eos === undefined || eos === null ? [] : (Array.isArray(eos) ? eos : [eos]).map((id, i) => idAt(id, `${where}: eos_token_id[${i}]`));
  const doSample = raw.do_sample;
  if (doSample !== undefined && doSample !== null && typeof doSample !== "boolean") {
    throw new PretrainedError(`${where}: do_sample: expected true or false, found ${JSON.stringify(doSample)}`);
  }
  return {
    eosTokenIds,
    bosTokenId: int("bos_token_id"),
    padTokenId: int("pad_token_id"),
    doSample: (doSample as boolean | undefined) ?? null,
    temperature: num("temperature"),
    topK: int("top_k"),
    topP: num("top_p"),
    minP: num("min_p"),
    repetitionPenalty: num("repetition_penalty"),
    maxNewTokens: int("max_new_tokens"),
    maxLength: int("max_length"),
    fromModelConfig: file === null,
    raw,
  };
}

function pick(config: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => config[k] !== undefined).map((k) => [k, config[k]]));
}

function optionalNumber(value: unknown, where: string, integer: boolean): number | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== "number" || !Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new PretrainedError(`${where}: expected ${integer ? "an integer" : "a number"}, found ${JSON.stringify(value)}`);
  }
  return value;
}

function idAt(value: unknown, where: string): number {
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0)
    throw new PretrainedError(`${where}: expected a token id, found ${JSON.stringify(value)}`);
  return value;
}

/** How to generate: anything set here overrides generation_config.json. */
export interface GenerationOptions {
  /** Most tokens to generate (default: generation_config's max_new_tokens, else 256; never past the model's positions). */
  maxNewTokens?: number;
  /** Sample (true) or take the most likely token (false). Default: generation_config's do_sample; a temperature > 0 given here implies true, 0 false. */
  doSample?: boolean;
  /** Sampling only: default generation_config's, else transformers' 1.0 / 50 / 1.0 / none. */
  temperature?: number;
  /** 0 turns top-k off. */
  topK?: number;
  topP?: number;
  minP?: number;
  /** > 1 discourages repeating tokens (applies to greedy decoding too). */
  repetitionPenalty?: number;
  /** More stop tokens, besides generation_config's eos ids. */
  stopTokens?: readonly number[];
  /** Generation ends before the first of these strings (not shown). */
  stopStrings?: readonly string[];
  /** Extra logits processors, run after the built-in ones. */
  processors?: readonly LogitsProcessor[];
  seed?: number;
  rng?: Rng;
  /** Stops generation (the stream throws the signal's reason). */
  signal?: AbortSignal;
  /**
   * What the KV cache keeps keys and values as: "float16" (llama.cpp's default) or "bfloat16" at
   * half the memory, each rounded as it is written; default "float32". A chat's is its session's.
   */
  cacheDType?: "float32" | "float16" | "bfloat16";
}

/** What @llm/sampling's generate takes, from the caller's options over generation_config's. */
export interface ResolvedGeneration {
  maxNewTokens: number;
  stopTokens: number[];
  stopStrings: readonly string[];
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  repetitionPenalty?: number;
  processors?: readonly LogitsProcessor[];
  seed?: number;
  rng?: Rng;
  cacheDType?: "float32" | "float16" | "bfloat16";
}

/** Default most new tokens when neither the caller nor generation_config says (transformers' max_length 20 counts the prompt too; this does not). */
export const DEFAULT_MAX_NEW_TOKENS = 256;

/**
 * The caller's options over generation_config's over transformers' defaults (temperature 1,
 * top_k 50, top_p 1 when sampling). Stop tokens: generation_config's eos ids (those inside the
 * vocabulary) and the caller's.
 */
export function resolveGeneration(
  config: GenerationConfig,
  options: GenerationOptions,
  model: { vocabSize: number; maxPositions: number },
  promptLength: number,
  extraStops: readonly number[] = [],
): ResolvedGeneration {
  if (options.temperature !== undefined && !(options.temperature >= 0)) {
    throw new PretrainedArgumentError(`temperature: expected a number >= 0, found ${options.temperature}`);
  }
  const doSample = options.doSample ?? (options.temperature !== undefined ? options.temperature > 0 : (config.doSample ?? false));
  const room = Math.max(0, model.maxPositions - promptLength);
  const fromConfig =
    config.maxNewTokens ?? (config.maxLength !== null && !config.fromModelConfig ? Math.max(0, config.maxLength - promptLength) : null);
  const maxNewTokens = Math.min(options.maxNewTokens ?? fromConfig ?? DEFAULT_MAX_NEW_TOKENS, room);
  const stops = [...config.eosTokenIds, ...extraStops, ...(options.stopTokens ?? [])].filter((id) => id < model.vocabSize);
  const out: ResolvedGeneration = {
    maxNewTokens,
    stopTokens: [...new Set(stops)],
    stopStrings: options.stopStrings ?? [],
    processors: options.processors,
    seed: options.seed,
    rng: options.rng,
  };
  if (options.cacheDType !== undefined) out.cacheDType = options.cacheDType;
  const penalty = options.repetitionPenalty ?? config.repetitionPenalty;
  if (penalty !== null && penalty !== 1) out.repetitionPenalty = penalty;
  if (doSample) {
    out.temperature = options.temperature ?? config.temperature ?? 1;
    const topK = options.topK ?? config.topK ?? 50;
    if (topK > 0) out.topK = topK;
    const topP = options.topP ?? config.topP ?? 1;
    if (topP < 1) out.topP = topP;
    const minP = options.minP ?? config.minP;
    if (minP !== null && minP > 0) out.minP = minP;
    // temperature 0 with sampling asked for: @llm/sampling treats it as greedy
  }
  return out;
}
