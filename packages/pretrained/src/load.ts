import { loadGGUFFrom, loadModelFrom, WEIGHT_DTYPES, type WeightDType } from "@llm/models";
import {
  CheckpointFileError,
  CpuBackend,
  openGGUF,
  readCheckpointConfig,
  readWholeFile,
  type Backend,
  type CheckpointFiles,
} from "@llm/tensor";
import { browserCache } from "./cache/browser_cache.js";
import type { FileCache } from "./cache/cache.js";
import { PretrainedArgumentError, PretrainedError } from "./errors.js";
import type { HasherFactory } from "./files/digest.js";
import { hubBaseUrl, isHubId, type HubOptions } from "./files/hub.js";
import type { ProgressCallback } from "./files/progress.js";
import { RemoteFiles } from "./files/remote.js";
import type { Tokenizer } from "@llm/tokenizer";
import { parseGenerationConfig, type GenerationConfig } from "./generation_config.js";
import { ggufText } from "./gguf.js";
import { Pretrained } from "./pretrained.js";
import { parseTokenizerConfig, tokenizerFromFiles, type TokenizerConfig } from "./tokenizer_config.js";

/**
 * The dtypes weights can be kept in (@llm/models' loadModel dtypes): "auto" keeps what the file
 * stores, "float32" widens, the others convert matrices as they load (llama.cpp's choices per
 * weight: docs/quantization.md).
 */
export const SUPPORTED_DTYPES: readonly WeightDType[] = WEIGHT_DTYPES;

export interface LoadPretrainedOptions extends HubOptions {
  /** Where the weights go (default: the current backend, the CPU unless set). */
  backend?: Backend;
  /**
   * The dtype weights are kept in: "auto" (default: as stored, so a float16 checkpoint stays half
   * and a GGUF file's Q4_K stays Q4_K), "float32", "float16", "bfloat16", "q8_0", "q4_0", "q4_k", "q5_k", "q6_k".
   * Norms and biases stay float32. Weights that are not float32 are not trained.
   */
  dtype?: WeightDType;
  /**
   * Threads of a CPU backend made for this model (new CpuBackend({ threads }); closed by
   * dispose()). Default: the current backend, whose threads are the machine's cores unless set.
   * With options.backend, give that backend its threads instead.
   */
  threads?: number;
  /**
   * The weights file to load instead of the folder's safetensors: a `.gguf` file of the folder,
   * URL or Hub repository (GGUF repositories hold one file per quantization, so it must be named).
   * The model, its tokenizer and chat template then come from the file.
   */
  file?: string;
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
  if (typeof source !== "string") return loadPretrainedFrom(source, options);
  const gguf = splitFileUrl(source);
  if (gguf) return loadPretrainedFrom(remoteFiles(gguf.folder, options), { ...options, file: gguf.file });
  return loadPretrainedFrom(remoteFiles(source, options), options);
}

/** The URL of a .gguf file as its folder's URL and the file's name (null for anything else). */
export function splitFileUrl(source: string): { folder: string; file: string } | null {
  if (!/^https?:\/\//i.test(source)) return null;
  const url = new URL(source);
  const slash = url.pathname.lastIndexOf("/");
  const name = decodeURIComponent(url.pathname.slice(slash + 1));
  if (!name.toLowerCase().endsWith(".gguf")) return null;
  url.pathname = url.pathname.slice(0, slash + 1);
  return { folder: url.toString(), file: name };
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
  const dtype = checkDType(options.dtype);
  const file = checkFile(options.file);
  const { backend, owned } = computeBackend(options);
  const guarded = withSignal(files, options.signal);
  try {
    if (file) return await loadGGUFPretrained(guarded, file, dtype, backend, owned, options.signal);
    const text = await withConfigHint(() => readModelFolderText(guarded));
    options.signal?.throwIfAborted();
    const model = await loadModelFrom(guarded, { backend, dtype });
    const where = files.location.replace(/\/$/, "");
    return new Pretrained(model, text.tokenizer, text.config, text.tokenizerConfig, text.generationConfig, text.chatTemplates, where, {
      onDispose: () => owned?.close(),
    });
  } catch (error) {
    owned?.close();
    throw error;
  }
}

/**
 * A GGUF file of the folder: its header first (architecture and tokenizer, so a file we cannot use
 * fails before its weights are read), then the weights. The tokenizer is the file's own
 * (tokenizer.ggml.*) when we read its kind; otherwise the folder's tokenizer files, if it has them.
 */
async function loadGGUFPretrained(
  files: CheckpointFiles,
  name: string,
  dtype: WeightDType,
  backend: Backend | undefined,
  owned: CpuBackend | null,
  signal: AbortSignal | undefined,
): Promise<Pretrained> {
  const folder = files.location.replace(/\/$/, "");
  const where = `${folder}/${name}`;
  const header = await openGGUF(files, name);
  let text: { tokenizer: Tokenizer; tokenizerConfig: TokenizerConfig | null; chatTemplates: Readonly<Record<string, string>> };
  let tokenIds: Readonly<Record<string, number>> = {};
  try {
    const own = ggufText(header.metadata, where);
    text = own;
    tokenIds = own.tokenIds;
  } catch (error) {
    if (!(error instanceof PretrainedError)) throw error;
    const hasTokenizer = (await files.size("tokenizer.json")) !== null || (await files.size("vocab.json")) !== null;
    if (!hasTokenizer) {
      throw new PretrainedError(
        `${error.message}; and ${folder} has no tokenizer.json beside it (put the model's tokenizer.json, and tokenizer_config.json, in the same folder)`,
      );
    }
    text = await loadTokenizerFrom(files);
  }
  signal?.throwIfAborted();
  const { model } = await loadGGUFFrom(files, name, { backend, dtype });
  try {
    const config = { ...model.checkpointConfig(), ...tokenIds };
    const generationConfig = parseGenerationConfig(await readJsonObject(files, "generation_config.json", folder), config, where);
    return new Pretrained(model, text.tokenizer, config, text.tokenizerConfig, generationConfig, text.chatTemplates, where, {
      onDispose: () => owned?.close(),
    });
  } catch (error) {
    model.dispose();
    throw error;
  }
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

function checkDType(dtype: unknown): WeightDType {
  if (dtype === undefined) return "auto";
  if (!(SUPPORTED_DTYPES as readonly unknown[]).includes(dtype)) {
    throw new PretrainedArgumentError(`dtype: expected one of ${SUPPORTED_DTYPES.join(", ")}, found ${JSON.stringify(dtype)}`);
  }
  return dtype as WeightDType;
}

function checkFile(file: unknown): string | undefined {
  if (file === undefined) return undefined;
  if (typeof file !== "string" || !file.toLowerCase().endsWith(".gguf") || file.startsWith("/") || file.split("/").includes("..")) {
    throw new PretrainedArgumentError(
      `file: expected the name of a .gguf file in the folder or repository (e.g. "model-Q4_K_M.gguf"), found ${JSON.stringify(file)}`,
    );
  }
  return file;
}

/** The backend to load onto: options.backend, a CPU backend with options.threads (owned: closed with the model), or the current one. */
function computeBackend(options: LoadPretrainedOptions): { backend: Backend | undefined; owned: CpuBackend | null } {
  const threads = options.threads;
  if (threads === undefined) return { backend: options.backend, owned: null };
  if (typeof threads !== "number" || !Number.isInteger(threads) || threads < 1) {
    throw new PretrainedArgumentError(`threads: expected a positive integer, found ${JSON.stringify(threads)}`);
  }
  if (options.backend) {
    throw new PretrainedArgumentError(
      `threads: sets the threads of the CPU backend loadPretrained makes; with options.backend given, set them on that backend (new CpuBackend({ threads: ${threads} })), found both`,
    );
  }
  const backend = new CpuBackend({ threads });
  return { backend, owned: backend };
}

/** A folder without config.json may be a GGUF repository: say how to load one. */
async function withConfigHint<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof CheckpointFileError && error.code === "no-config") {
      throw new PretrainedError(`${error.message} (for a GGUF file, name it: options.file, or the file's own path or URL)`);
    }
    throw error;
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
