import { PretrainedArgumentError } from "../errors.js";

/** The Hugging Face Hub. */
export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";

export interface HubOptions {
  /** A branch, tag or commit (default "main"). A commit pins the files; a branch is read once and cached. */
  revision?: string;
  /** The Hub's address (default https://huggingface.co; a mirror, or a test server). */
  endpoint?: string;
}

// The Hub's rule for a name: letters, digits, '-', '_', '.'; not starting or ending with '-' or
// '.'; no '--' or '..'; at most 96 characters. Old models have no namespace ("gpt2").
const NAME = /^(?![-.])[A-Za-z0-9_.-]{1,96}(?<![-.])$/;

/** True for `name` or `namespace/name` as the Hub spells repository ids. */
export function isHubId(source: string): boolean {
  const parts = source.split("/");
  return parts.length <= 2 && parts.every((p) => NAME.test(p) && !p.includes("--") && !p.includes(".."));
}

/**
 * The base URL of a Hub repository's files at a revision: each file is `${base}${name}`
 * (`{endpoint}/{id}/resolve/{revision}/{file}`, as huggingface_hub's hf_hub_url builds it).
 */
export function hubBaseUrl(id: string, options: HubOptions = {}): string {
  if (!isHubId(id)) {
    throw new PretrainedArgumentError(`Hub id: expected "namespace/name" (letters, digits, '-', '_', '.'), found ${JSON.stringify(id)}`);
  }
  const revision = options.revision ?? "main";
  if (revision === "" || typeof revision !== "string") {
    throw new PretrainedArgumentError(`revision: expected a branch, tag or commit, found ${JSON.stringify(revision)}`);
  }
  const endpoint = (options.endpoint ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, "");
  if (!/^https?:\/\//.test(endpoint)) {
    throw new PretrainedArgumentError(`endpoint: expected an http(s) URL, found ${JSON.stringify(options.endpoint)}`);
  }
  return `${endpoint}/${id}/resolve/${encodeURIComponent(revision)}/`;
}
