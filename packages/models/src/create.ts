import { Rng } from "@llm/tensor";
import type { CreateOptions, Model } from "./architecture.js";
import { ConfigReader, type RawConfig } from "./config.js";
import { ModelConfigError } from "./errors.js";
import { architectureFor } from "./registry.js";

/**
 * A model with random weights from a config.json-style object (model_type picks the architecture):
 * matrices ~ N(0, std), biases 0, norm gains 1, drawn from a seeded Rng.
 */
export function createModel(config: RawConfig, options: CreateOptions = {}): Model {
  const architecture = architectureFor(config);
  const model = architecture.create(config, { backend: options.backend, maxParameterBytes: options.maxParameterBytes });
  const reader = new ConfigReader(config, architecture.modelType);
  const std =
    options.std ??
    (reader.has("initializer_range") || !reader.has("init_std") ? reader.number("initializer_range", 0.02) : reader.number("init_std"));
  if (!(typeof std === "number" && Number.isFinite(std) && std >= 0))
    throw new ModelConfigError(`createModel: std must be a finite number >= 0, found ${std}`);
  const seed = options.seed ?? 0;
  if (!Number.isSafeInteger(seed)) throw new ModelConfigError(`createModel: seed must be an integer, found ${String(seed)}`);
  model.initialize(options.rng ?? new Rng(seed), std);
  return model;
}
