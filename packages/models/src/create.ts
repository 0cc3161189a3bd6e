import { Rng } from "@llm/tensor";
import type { CreateOptions, Model } from "./architecture.js";
import type { RawConfig } from "./config.js";
import { architectureFor } from "./registry.js";

/**
 * A model with random weights from a config.json-style object (model_type picks the architecture):
 * matrices ~ N(0, std), biases 0, norm gains 1, drawn from a seeded Rng.
 */
export function createModel(config: RawConfig, options: CreateOptions = {}): Model {
  const model = architectureFor(config).create(config, { backend: options.backend });
  const range = config.initializer_range ?? config.init_std;
  const std = options.std ?? (typeof range === "number" ? range : 0.02);
  model.initialize(options.rng ?? new Rng(options.seed ?? 0), std);
  return model;
}
