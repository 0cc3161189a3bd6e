import { loadModelFrom } from "@llm/models";
import { readCheckpointConfig, readWholeFile, type Backend, type CheckpointFiles } from "@llm/tensor";
import { browserCache } from "./cache/browser_cache.js";
import type { FileCache } from "./cache/cache.js";
import { PretrainedArgumentError, PretrainedError } from "./errors.js";
import type { HasherFactory } from "./files/digest.js";
import { hubBaseUrl, isHubId, type HubOptions } from "./files/hub.js";
import type { ProgressCallback } from "./files/progress.js";
import { RemoteFiles } from "./files/remote.js";
import type { Tokenizer } from "@llm/tokenizer";
import { parseGenerationConfig, type GenerationConfig } from "./generation_config.js";
import { Pretrained } from "./pretrained.js";
import { parseTokenizerConfig, tokenizerFromFiles, type TokenizerConfig } from "./tokenizer_config.js";

/** Weight dtypes this version computes in ("auto" is float32 here: halves are widened as they load). */
export const SUPPORTED_DTYPES = ["auto", "float32"] as const;

export interface LoadPretrainedOptions extends HubOptions {
  /** Where the weights go (default: the current backend, the CPU unless set). */
  backend?: Backend;
  /** The dtype weights are kept in: "auto" (default) or "float32"; both are float32 in this version. */
  dtype?: string;
  /** CPU threads: 1 (default) is what this version runs; other values are refused rather than ignored. */
  threads?: number;
  /** A Hub access token (private and gated repositories); sent as a Bearer token to the first host only. */
  token?: string;
  /** Extra request headers. */
  headers?: Readonly<Record<string, string>>;
  /** The fetch to use (default globalThis.fetch). */
  fetch?: typeof fetch;
  /**
   * Where downloads are kept. Default: the Cache API in browsers (when there is one), none in
   * Node's main entry (@llm/pretrained/node defaults to a folder). false: no cache, each read an
   * HTTP range request.
   */
  cache?: FileCache | false;
  /** Only the cache: no request at all; a file not in it is an error. */
  offline?: boolean;
  /** Fetch again even what is cached. */
  refresh?: boolean;
  /** Hash cached files again on load (default: size only). */
  verifyCached?: boolean;
  /** Attempts after a failed or corrupted download (default 2). */
  retries?: number;
  /** Bytes per file as they arrive (or, from the cache, once per file). */
  onProgress?: ProgressCallback;
  /** Stops the load: requests are cancelled and the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Internal seam: how sha256/sha1 are computed (@llm/pretrained/node passes Node's crypto). */
  hasher?: HasherFactory;
}

/**
 * A source as the files of a model folder: an http(s) URL of a folder, or a Hub id
 * ("namespace/name", at options.revision, on options.endpoint). (@llm/pretrained/node adds local
 * folders.)
 */
export function remoteFiles(source: string, options: LoadPretrainedOptions = {}): RemoteFiles {
  let base: string;
  if (/^https?:\/\//i.test(source)) base = source;
  else if (isHubId(source)) base = hubBaseUrl(source, options);
  else {
    throw new PretrainedArgumentError(
      `source: expected a Hub id ("namespace/name") or the http(s) URL of a model folder, found ${JSON.stringify(source)}`,
    );
  }
  const headers = { ...options.headers, ...(options.token ? { authorization: `Bearer ${options.token}` } : {}) };
  const cache = options.cache === false ? null : (options.cache ?? defaultBrowserCache());
  return new RemoteFiles(base, {
    cache,
    offline: options.offline,
    refresh: options.refresh,
    verifyCached: options.verifyCached,
    retries: options.retries,
    onProgress: options.onProgress,
    signal: options.signal,
    fetch: options.fetch,
    headers,
    hasher: options.hasher,
  });
}

function defaultBrowserCache(): FileCache | null {
  return (globalThis as { caches?: unknown }).caches ? browserCache() : null;
}

/**
 * Loads what a user needs to generate from a model folder's files: the model (config.json and the
 * safetensors weights, sharded or not), the tokenizer (tokenizer.json, with tokenizer_config.json's
 * special tokens and bos/eos settings), generation_config.json (its eos ids stop generation, its
 * sampling settings are the defaults) and the chat template (tokenizer_config.json's, or
 * chat_template.jinja). The small files are read first, so a folder that cannot work fails before
 * its weights are fetched.
 */
export async function loadPretrained(source: string | CheckpointFiles, options: LoadPretrainedOptions = {}): Promise<Pretrained> {
  const files = typeof source === "string" ? remoteFiles(source, options) : source;
  return loadPretrainedFrom(files, options);
}

/** What a model folder says besides its weights: config.json, the tokenizer and its config, generation_config.json, chat templates. */
export interface ModelFolderText {
  readonly config: Record<string, unknown>;
  readonly tokenizer: Tokenizer;
  readonly tokenizerConfig: TokenizerConfig | null;
  readonly generationConfig: GenerationConfig;
  readonly chatTemplates: Readonly<Record<string, string>>;
}

/** loadPretrained from files already resolved (a folder, a RemoteFiles, bytes in memory). */
export async function loadPretrainedFrom(files: CheckpointFiles, options: LoadPretrainedOptions = {}): Promise<Pretrained> {
  checkComputeOptions(options);
  const guarded = withSignal(files, options.signal);
  const text = await readModelFolderText(guarded);
  options.signal?.throwIfAborted();
  const model = await loadModelFrom(guarded, { backend: options.backend });
  const where = files.location.replace(/\/$/, "");
  return new Pretrained(model, text.tokenizer, text.config, text.tokenizerConfig, text.generationConfig, text.chatTemplates, where);
}

/**
 * Everything of a model folder but the weights (small files only): config.json, the tokenizer
 * (tokenizer.json or vocab.json + merges.txt, with tokenizer_config.json or special_tokens_map.json),
 * generation_config.json and the chat templates.
 */
export async function readModelFolderText(files: CheckpointFiles): Promise<ModelFolderText> {
  const where = files.location.replace(/\/$/, "");
  const config = await readCheckpointConfig(files);
  const tokenizer = await loadTokenizerFrom(files);
  const generationConfig = parseGenerationConfig(await readJsonObject(files, "generation_config.json", where), config, where);
  return { config, ...tokenizer, generationConfig };
}

/** A folder's tokenizer alone (config.json and the weights are not read): tokenizer files, tokenizer_config.json, chat templates. */
export async function loadTokenizerFrom(
  files: CheckpointFiles,
): Promise<{ tokenizer: Tokenizer; tokenizerConfig: TokenizerConfig | null; chatTemplates: Readonly<Record<string, string>> }> {
  const where = files.location.replace(/\/$/, "");
  const json = (name: string) => readJsonObject(files, name, where);
  const tokenizerConfigJson = await json("tokenizer_config.json");
  const specialTokensMap = tokenizerConfigJson ? null : await json("special_tokens_map.json");
  const tokenizerConfig =
    tokenizerConfigJson || specialTokensMap
      ? parseTokenizerConfig(tokenizerConfigJson, `${where}/tokenizer_config.json`, specialTokensMap)
      : null;
  const tokenizerJson = await readWholeFile(files, "tokenizer.json");
  const gpt2Files = tokenizerJson
    ? {}
    : { vocabJson: await readWholeFile(files, "vocab.json"), mergesTxt: await readWholeFile(files, "merges.txt") };
  const tokenizer = tokenizerFromFiles({ tokenizerJson, ...gpt2Files }, tokenizerConfig, where);
  const jinja = await readWholeFile(files, "chat_template.jinja");
  // chat_template.jinja is what transformers saves now; it wins over the config's (as in transformers)
  const chatTemplates = { ...(tokenizerConfig?.chatTemplates ?? {}), ...(jinja ? { default: new TextDecoder().decode(jinja) } : {}) };
  return { tokenizer, tokenizerConfig, chatTemplates };
}

async function readJsonObject(files: CheckpointFiles, name: string, where: string): Promise<Record<string, unknown> | null> {
  const bytes = await readWholeFile(files, name);
  if (!bytes) return null;
  try {
    const value = JSON.parse(new TextDecoder().decode(bytes)) as unknown;
    if (typeof value !== "object" || value === null || Array.isArray(value))
      throw new Error(`found ${JSON.stringify(value)?.slice(0, 40)}`);
    return value as Record<string, unknown>;
  } catch (error) {
    throw new PretrainedError(`${where}/${name}: expected a JSON object (${(error as Error).message})`);
  }
}

/** dtype and threads: the values this version runs, refused otherwise (never silently ignored). */
function checkComputeOptions(options: LoadPretrainedOptions): void {
  if (options.dtype !== undefined && !(SUPPORTED_DTYPES as readonly string[]).includes(options.dtype)) {
    throw new PretrainedArgumentError(
      `dtype: expected one of ${SUPPORTED_DTYPES.join(", ")} (what this version computes in), found ${JSON.stringify(options.dtype)}`,
    );
  }
  if (options.threads !== undefined && options.threads !== 1) {
    throw new PretrainedArgumentError(
      `threads: expected 1 (this version's CPU backend runs on one thread), found ${JSON.stringify(options.threads)}`,
    );
  }
}

/** The files, with the abort signal checked before every read. */
function withSignal(files: CheckpointFiles, signal: AbortSignal | undefined): CheckpointFiles {
  if (!signal) return files;
  return {
    location: files.location,
    size: (name) => {
      signal.throwIfAborted();
      return files.size(name);
    },
    readInto: (name, position, target) => {
      signal.throwIfAborted();
      return files.readInto(name, position, target);
    },
  };
}
