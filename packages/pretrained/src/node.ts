/**
 * `@llm/pretrained/node`: loadPretrained that also takes a local folder, caches downloads in the
 * platform's cache folder, hashes with Node's crypto, and reads HF_TOKEN / HF_ENDPOINT /
 * HF_HUB_OFFLINE from the environment. A separate entry so that browser bundles never import `fs`.
 */
import { stat } from "node:fs/promises";
import { checkpointFolder } from "@llm/tensor/node";
import type { CheckpointFiles } from "@llm/tensor";
import { PretrainedArgumentError } from "./errors.js";
import { isHubId } from "./files/hub.js";
import { loadPretrainedFrom, remoteFiles, type LoadPretrainedOptions } from "./load.js";
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
  if (await isFolder(source)) return checkpointFolder(source);
  // a path that is not there is a typo, not a Hub id to ask the network about
  if (/^(\.{1,2}[\\/]|[\\/]|~|[A-Za-z]:[\\/])/.test(source) || (!/^https?:\/\//i.test(source) && !isHubId(source))) {
    throw new PretrainedArgumentError(
      `source: ${JSON.stringify(source)} is not a folder here; expected a model folder, an http(s) URL or a Hub id ("namespace/name")`,
    );
  }
  return remoteFiles(source, nodeDefaults(options));
}

/** loadPretrained for Node: a local folder, an http(s) URL or a Hub id; see resolveFiles. */
export async function loadPretrained(source: string | CheckpointFiles, options: NodeLoadPretrainedOptions = {}): Promise<Pretrained> {
  const files = typeof source === "string" ? await resolveFiles(source, options) : source;
  return loadPretrainedFrom(files, nodeDefaults(options));
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

async function isFolder(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}
