import { describe, expect, it } from "vitest";
import { noGrad } from "@llm/tensor";
import { modelFromCheckpoint } from "@llm/models";
import { maxAbsDiff, readFixture } from "./fixture_files.js";

/**
 * The post-2023 fixtures were saved by transformers 5.17 (rope_parameters, layer_types). Checkpoints
 * on the Hub were mostly saved by transformers 4.4x, which writes the same model differently: a
 * top-level rope_theta, rope_scaling (null when there is none), no layer_types (the family's rule
 * decides), and Gemma 2's hidden_act beside hidden_activation. Both spellings must give the
 * reference logits.
 */
function as4x(config: Record<string, unknown>): Record<string, unknown> {
  const { rope_parameters, layer_types: _layerTypes, transformers_version: _version, dtype: _dtype, ...rest } = config;
  const { rope_theta, rope_type, partial_rotary_factor, ...scaling } = rope_parameters as Record<string, unknown>;
  return {
    ...rest,
    rope_theta,
    rope_scaling: rope_type === "default" ? null : { rope_type, ...scaling },
    ...(partial_rotary_factor !== undefined && partial_rotary_factor !== 1 ? { partial_rotary_factor } : {}),
    ...(config.model_type === "gemma2" ? { hidden_act: config.hidden_activation, cache_implementation: "hybrid" } : {}),
    torch_dtype: "float32",
    transformers_version: "4.44.2",
  };
}

describe.each(["llama3", "qwen2", "qwen3", "mistral", "gemma2", "phi3"])("%s", (name) => {
  it("a config.json as transformers 4.4x writes it gives the reference logits too", async () => {
    const f = await readFixture(name);
    const config = as4x(f.config);
    expect(config).not.toHaveProperty("rope_parameters");
    const model = modelFromCheckpoint(config, f.weights, name);
    noGrad(() => expect(maxAbsDiff(model.forward(f.reference.input_ids!), f.reference.logits!)).toBeLessThanOrEqual(1e-4));
  });
});
