import type { Module } from "@llm/layers";
import type { Model } from "./architecture.js";

/** How a downloaded file's tensor names differ from the model's parameter names. */
export interface KeyRules {
  /** Buffers some files carry that are not parameters (causal masks, rotary inv_freq): dropped. */
  readonly drop?: readonly RegExp[];
  /** Files saved from the base model (no head) lack this prefix: "transformer.", "model.". */
  readonly prefix?: string;
  /** File names that mean another parameter (transformers 5 saves GPT-NeoX's embed_out as lm_head). */
  readonly renames?: Readonly<Record<string, string>>;
}

/** What a checkpoint's names mean for one model. */
export interface KeyMatch {
  /** Parameter name -> the file's tensor name. */
  readonly sources: ReadonlyMap<string, string>;
  /** Parameters the file lacks. */
  readonly missing: readonly string[];
  /** File tensors no parameter takes (after dropping the ones the rules drop). */
  readonly unexpected: readonly string[];
}

/**
 * Matches a file's tensor names to the model's parameters: a name is a parameter's own, or the
 * parameter's minus the prefix; buffers the rules name are dropped, and so is the duplicate of a
 * tied head that some files store anyway (its values are the embedding's).
 */
export function matchCheckpointKeys(model: Model, fileKeys: Iterable<string>, rules: KeyRules): KeyMatch {
  const params = new Set(model.namedParameters().map(([name]) => name));
  const tiedHeadKey = model.head.tied ? tiedWeightName(model) : null;
  const sources = new Map<string, string>();
  const unexpected: string[] = [];
  for (const key of fileKeys) {
    if (rules.drop?.some((re) => re.test(key))) continue;
    const renamed = rules.renames?.[key] ?? key;
    const name = params.has(renamed) ? renamed : rules.prefix && params.has(rules.prefix + renamed) ? rules.prefix + renamed : null;
    if (name !== null && !sources.has(name)) sources.set(name, key);
    else if (renamed !== tiedHeadKey) unexpected.push(key);
  }
  const missing = [...params].filter((p) => !sources.has(p));
  return { sources, missing, unexpected };
}

/** "lm_head.weight": where the head's own weight would be saved, were it not tied. */
function tiedWeightName(model: Model): string | null {
  const path = modulePath(model, model.head);
  return path === null ? "lm_head.weight" : `${path}weight`;
}

/** The dotted prefix of a submodule's parameters ("lm_head."), or null when it is not in the tree. */
function modulePath(root: Module, target: Module, prefix = ""): string | null {
  if (root === target) return prefix;
  for (const [name, child] of root.namedChildren()) {
    const found = modulePath(child, target, name ? `${prefix}${name}.` : prefix);
    if (found !== null) return found;
  }
  return null;
}
