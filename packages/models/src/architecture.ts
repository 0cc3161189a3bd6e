import type { Rng, Tensor } from "@llm/tensor";
import type { TransformerLanguageModel } from "@llm/layers";
import type { RawConfig } from "./config.js";

/** A model of some architecture, as loadModel and createModel return it. */
export type Model = TransformerLanguageModel;

/** What the registry knows about one architecture. */
export interface Architecture {
  /** config.json's model_type. */
  readonly modelType: string;
  /** Older model_type names of the same architecture (Falcon's "RefinedWeb"). */
  readonly aliases?: readonly string[];
  /** Builds the model (zero-filled parameters) from config.json's contents; throws on bad config. */
  create(config: RawConfig): Model;
  /**
   * Maps a downloaded checkpoint's tensors to this model's parameter names: drops buffers some
   * files carry (causal-mask "bias", rotary inv_freq), a tied head's duplicate, and adds a
   * prefix older files lack.
   */
  normalizeKeys?(tensors: Record<string, Tensor>, model: Model): Record<string, Tensor>;
}

export interface CreateOptions {
  /** Seed of the Rng that draws the random weights (default 0). */
  seed?: number;
  rng?: Rng;
  /** Std of the normal weights (default: the config's initializer_range, else 0.02). */
  std?: number;
}
