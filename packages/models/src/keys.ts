import type { Tensor } from "@llm/tensor";

export interface KeyRules {
  /** Buffers some files carry that are not parameters (causal masks, rotary inv_freq). */
  drop?: readonly RegExp[];
  /** Files saved from the base model (no head) lack this prefix: "transformer.", "model.". */
  prefix?: string;
  /** Keys that already sit at the top level and take no prefix (the head). */
  topLevel?: readonly string[];
  /** The head's weight when it is tied: some files store the duplicate anyway. */
  tiedHeadKey?: string | null;
}

/** Renames a downloaded file's tensors to the model's parameter names. */
export function normalizeKeys(tensors: Record<string, Tensor>, rules: KeyRules): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [key, t] of Object.entries(tensors)) {
    if (rules.drop?.some((re) => re.test(key)) || key === rules.tiedHeadKey) continue;
    const { prefix, topLevel = [] } = rules;
    const named = !prefix || key.startsWith(prefix) || topLevel.includes(key) ? key : prefix + key;
    out[named] = t;
  }
  return out;
}

/** The same tensors with one key renamed (when present and the new name is free). */
export function renameKey(tensors: Record<string, Tensor>, from: string, to: string): Record<string, Tensor> {
  if (!(from in tensors) || to in tensors) return tensors;
  const { [from]: moved, ...rest } = tensors;
  return { ...rest, [to]: moved! };
}
