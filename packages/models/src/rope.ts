import { RotaryEmbedding, type RopeScaling } from "@llm/layers";
import type { ConfigReader } from "./config.js";

export interface RotaryConfigOptions {
  /** "half" (rotate_half, every family here) or "interleaved" (GPT-J). Default "half". */
  style?: "half" | "interleaved";
  /** Whether `partial_rotary_factor` may rotate fewer than all head dims (Phi-3); else it must be 1. */
  partial?: boolean;
  /** max_position_embeddings when config.json leaves it out (the family's transformers default). */
  maxPositions: number;
  /**
   * Phi-3: a top-level original_max_position_embeddings (default 4096) overrides the one in the
   * rope parameters, as transformers' standardize_rope_params does for it.
   */
  topLevelOriginalMaxPositions?: number;
}

const TYPES = ["default", "linear", "dynamic", "llama3", "yarn", "longrope"] as const;
/** Names older configs use for the same rope types (Phi-3's first releases said "su"). */
const TYPE_ALIASES: Readonly<Record<string, (typeof TYPES)[number]>> = { su: "longrope" };

/**
 * The rotary encoding a config describes, as transformers 4.4x and 5.x write it: `rope_parameters`
 * (5.x: rope_type, rope_theta, factor, ...) or `rope_scaling` (4.x: type or rope_type, factor, ...)
 * with a top-level `rope_theta`; `partial_rotary_factor` in either place.
 */
export function rotaryFromConfig(c: ConfigReader, headDim: number, options: RotaryConfigOptions): RotaryEmbedding {
  const params = ropeParameters(c);
  const theta = params.has("rope_theta") ? params.float("rope_theta") : c.float("rope_theta", 10000);
  c.require("rope_theta", theta > 0, "a positive number");
  const fraction = params.has("partial_rotary_factor")
    ? params.float("partial_rotary_factor")
    : c.has("partial_rotary_factor")
      ? c.float("partial_rotary_factor")
      : 1;
  let rotaryDim = headDim;
  if (options.partial) {
    rotaryDim = Math.floor(headDim * fraction);
    c.require(
      "partial_rotary_factor",
      fraction > 0 && fraction <= 1 && rotaryDim >= 2 && rotaryDim % 2 === 0,
      `a fraction in (0, 1] giving an even number >= 2 of the ${headDim} head dims`,
    );
  } else {
    c.require("partial_rotary_factor", fraction === 1, `1 (this family rotates whole heads)`);
  }
  const scaling = ropeScaling(c, params, rotaryDim, options);
  return new RotaryEmbedding(headDim, { rotaryDim, theta, style: options.style ?? "half", scaling });
}

/** The rope parameters: rope_scaling when present (transformers reads it as them), else rope_parameters. */
export function ropeParameters(c: ConfigReader): ConfigReader {
  return c.has("rope_scaling") ? c.object("rope_scaling") : c.object("rope_parameters");
}

/**
 * The rope scaling a config describes (linear, dynamic, llama3, yarn, longrope, or none) for
 * `rotaryDim` rotated dims, for families that read their rotary fraction and theta themselves
 * (GPT-NeoX's rotary_pct and rotary_emb_base).
 */
export function ropeScalingFromConfig(c: ConfigReader, rotaryDim: number, options: RotaryConfigOptions): RopeScaling {
  return ropeScaling(c, ropeParameters(c), rotaryDim, options);
}

/** The rope type and its parameters, checked with errors that name the config key. */
function ropeScaling(c: ConfigReader, params: ConfigReader, rotaryDim: number, options: RotaryConfigOptions): RopeScaling {
  const typeKey = !params.has("rope_type") && params.has("type") ? "type" : "rope_type";
  const written = params.string(typeKey, "default");
  const type = TYPE_ALIASES[written] ?? written;
  params.require(typeKey, (TYPES as readonly string[]).includes(type), `one of ${TYPES.join(", ")}`);
  if (type === "default") return { type };
  const maxPositions = () => c.int("max_position_embeddings", options.maxPositions);
  const positive = (key: string) => {
    const v = params.float(key);
    params.require(key, v > 0, "a positive number");
    return v;
  };
  const optionalPositive = (key: string) => (params.has(key) ? positive(key) : undefined);
  const originalMaxPositions = () => {
    if (options.topLevelOriginalMaxPositions !== undefined) {
      return c.int("original_max_position_embeddings", options.topLevelOriginalMaxPositions);
    }
    if (params.has("original_max_position_embeddings")) return params.int("original_max_position_embeddings");
    return c.has("original_max_position_embeddings") ? c.int("original_max_position_embeddings") : maxPositions();
  };
  switch (type) {
    case "linear":
      return { type, factor: positive("factor") };
    case "dynamic":
      c.require("head_dim", rotaryDim > 2, "more than 2 for dynamic rope scaling (theta grows by d / (d - 2))");
      return { type, factor: positive("factor"), maxPositions: maxPositions() };
    case "llama3": {
      const lowFreqFactor = positive("low_freq_factor");
      const highFreqFactor = positive("high_freq_factor");
      params.require("high_freq_factor", highFreqFactor > lowFreqFactor, `greater than low_freq_factor (${lowFreqFactor})`);
      return { type, factor: positive("factor"), lowFreqFactor, highFreqFactor, originalMaxPositions: originalMaxPositions() };
    }
    case "yarn": {
      const original = originalMaxPositions();
      const factor = params.has("factor") ? positive("factor") : maxPositions() / original;
      return {
        type,
        factor,
        originalMaxPositions: original,
        betaFast: optionalPositive("beta_fast"),
        betaSlow: optionalPositive("beta_slow"),
        mscale: params.has("mscale") ? params.float("mscale") : undefined,
        mscaleAllDim: params.has("mscale_all_dim") ? params.float("mscale_all_dim") : undefined,
        attentionFactor: optionalPositive("attention_factor"),
        truncate: params.bool("truncate", true),
      };
    }
    case "longrope": {
      const original = originalMaxPositions();
      const factors = (key: string) => {
        const list = params.floatList(key);
        params.require(
          key,
          list.length === rotaryDim / 2 && list.every((x) => x > 0),
          `${rotaryDim / 2} positive numbers (rotary dims / 2)`,
        );
        return list;
      };
      return {
        type,
        shortFactor: factors("short_factor"),
        longFactor: factors("long_factor"),
        originalMaxPositions: original,
        // Phi-3 leaves factor out: the context extension ratio sets the attention factor
        factor: params.has("factor") ? positive("factor") : maxPositions() / original,
        attentionFactor: optionalPositive("attention_factor"),
      };
    }
  }
  throw new Error(`unreachable rope type ${type}`);
}
