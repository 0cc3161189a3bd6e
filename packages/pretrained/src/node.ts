/**
 * `@llm/pretrained/node`: loadPretrained that also takes a local folder, caches downloads in the
 * platform's cache folder, hashes with Node's crypto, and reads HF_TOKEN / HF_ENDPOINT /
 * HF_HUB_OFFLINE from the environment. A separate entry so that browser bundles never import `fs`.
 */
import { readdir, stat } from "node:fs/promises";
import { basename, dirname } from "node:path";
import { checkpointFolder } from "@llm/tensor/node";
import type { CheckpointFiles } from "@llm/tensor";
import { PretrainedArgumentError } from "./errors.js";
import { isHubId } from "./files/hub.js";
import { loadPretrainedFrom, remoteFiles, splitFileUrl, type LoadPretrainedOptions } from "./load.js";
import { folderCache } from "./node/folder_cache.js";
import { nodeHasher } from "./node/hasher.js";
import type { Pretrained } from "./pretrained.js";

export { folderCache, defaultCacheDir } from "./node/folder_cache.js";
export { nodeHasher } from "./node/hasher.js";

export interface NodeLoadPretrainedOptions extends LoadPretrainedOptions {
  /** The cache folder (default: defaultCacheDir(), i.e. $LLM_CACHE_DIR or the platform's cache folder); ignored when `cache` is given. */
  cacheDir?: string;
}

/**
 * The files of a source: an existing local folder as it is; otherwise an http(s) URL or a Hub id
 * (endpoint from options or $HF_ENDPOINT, token from options or $HF_TOKEN, offline from options or
 * $HF_HUB_OFFLINE=1), cached in a folder unless `cache: false`.
 */
export async function resolveFiles(source: string, options: NodeLoadPretrainedOptions = {}): Promise<CheckpointFiles> {
  return (await resolveSource(source, options)).files;
}

/**
 * A source's files and, where the weights are a GGUF file, its name: a local .gguf file (its
 * folder, and it); a local folder with no config.json and one .gguf file (several: options.file
 * names one); an http(s) URL of a .gguf file; options.file otherwise.
 */
export async function resolveSource(
  source: string,
  options: NodeLoadPretrainedOptions = {},
): Promise<{ files: CheckpointFiles; file: string | undefined }> {
  if (source.toLowerCase().endsWith(".gguf") && (await isFile(source))) {
    return { files: checkpointFolder(dirname(source)), file: basename(source) };
  }
  if (await isFolder(source)) return { files: checkpointFolder(source), file: options.file ?? (await soleGGUF(source)) };
  const url = splitFileUrl(source);
  if (url) return { files: remoteFiles(url.folder, nodeDefaults(options)), file: url.file };
  return { files: await remoteFolder(source, options), file: options.file };
}

/** The one .gguf file of a folder that has no config.json (undefined where it has a config.json or no .gguf). */
async function soleGGUF(folder: string): Promise<string | undefined> {
  const names = await readdir(folder);
  if (names.includes("config.json")) return undefined;
  const ggufs = names.filter((n) => n.toLowerCase().endsWith(".gguf")).sort();
  if (ggufs.length > 1) {
    throw new PretrainedArgumentError(
      `source: ${folder} holds ${ggufs.length} GGUF files (${ggufs.join(", ")}) and no config.json; name one: options.file (llm: --file), or the file's path`,
    );
  }
  return ggufs[0];
}

async function remoteFolder(source: string, options: NodeLoadPretrainedOptions): Promise<CheckpointFiles> {
  // a path that is not there is a typo, not a Hub id to ask the network about
  if (/^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(source) || (!/^https?:\/\//i.test(source) && !isHubId(source))) {
    throw new PretrainedArgumentError(
      `source: ${JSON.stringify(source)} is not a folder or .gguf file here; expected a model folder, a .gguf file, an http(s) URL or a Hub id ("namespace/name")`,
    );
  }
  return remoteFiles(source, nodeDefaults(options));
}

/** loadPretrained for Node: a local folder, an http(s) URL or a Hub id; see resolveFiles. */
export async function loadPretrained(source: string | CheckpointFiles, options: NodeLoadPretrainedOptions = {}): Promise<Pretrained> {
  if (typeof source !== "string") return loadPretrainedFrom(source, nodeDefaults(options));
  const { files, file } = await resolveSource(source, options);
  return loadPretrainedFrom(files, { ...nodeDefaults(options), file });
}

function nodeDefaults(options: NodeLoadPretrainedOptions): LoadPretrainedOptions {
  const env = process.env;
  return {
    ...options,
    endpoint: options.endpoint ?? (env.HF_ENDPOINT || undefined),
    token: options.token ?? (env.HF_TOKEN || undefined),
    offline: options.offline ?? ["1", "true", "yes"].includes((env.HF_HUB_OFFLINE ?? "").toLowerCase()),
    cache: options.cache ?? folderCache(options.cacheDir),
    hasher: options.hasher ?? nodeHasher,
  };
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
