import { readFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { tensor } from "@llm/tensor";
import { RotaryEmbedding } from "@llm/layers";
import { createModel, type Model } from "@llm/models";

/**
 * config.json -> rotary encoding, against transformers 5.17: the golden file holds the rope
 * parameters transformers standardized from each config and the inverse frequencies and attention
 * factor its rotary module computed (written by packages/layers/test/golden/rope_scaling.py).
 */
interface GoldenCase {
  name: string;
  ropeParameters: Record<string, unknown>;
  headDim: number;
  rotaryDim: number;
  maxPositionEmbeddings: number;
  evaluations: { sequenceLength: number; inverseFrequencies: number[]; attentionFactor: number }[];
}
const golden = JSON.parse(readFileSync(new URL("../../layers/test/golden/rope_scaling.json", import.meta.url), "utf8")) as {
  cases: GoldenCase[];
};

function rotaryOf(model: Model): RotaryEmbedding {
  const position = model.blocks[0]!.attention.position;
  if (!(position instanceof RotaryEmbedding)) throw new Error("expected a rotary encoding");
  return position;
}

/** The model config transformers would have read these rope parameters from. */
function configFor(c: GoldenCase, style: "5.x" | "4.x"): Record<string, unknown> {
  const phi3 = c.rotaryDim !== c.headDim || c.ropeParameters.rope_type === "longrope";
  const { rope_theta, rope_type, ...rest } = c.ropeParameters;
  const rope = style === "5.x" ? { rope_parameters: c.ropeParameters } : { rope_theta, rope_scaling: { type: rope_type, ...rest } };
  return {
    model_type: phi3 ? "phi3" : "llama",
    vocab_size: 10,
    hidden_size: 2 * c.headDim,
    num_attention_heads: 2,
    ...(phi3 ? {} : { head_dim: c.headDim }),
    num_hidden_layers: 1,
    intermediate_size: 8,
    max_position_embeddings: c.maxPositionEmbeddings,
    // Phi-3 writes the pretraining context at the top level (and transformers prefers it there)
    ...(phi3 && c.ropeParameters.original_max_position_embeddings !== undefined
      ? { original_max_position_embeddings: c.ropeParameters.original_max_position_embeddings }
      : {}),
    ...rope,
  };
}

describe.each(golden.cases.map((c) => [c.name, c] as const))("%s", (_, c) => {
  it.each(["5.x", "4.x"] as const)("read from a transformers %s config gives transformers' frequencies and attention factor", (style) => {
    const rotary = rotaryOf(createModel(configFor(c, style)));
    expect(rotary.rotaryDim).toBe(c.rotaryDim);
    for (const e of c.evaluations) {
      const ours = rotary.frequencies(e.sequenceLength);
      e.inverseFrequencies.forEach((x, i) => expect(Math.abs(ours[i]! - x) / x, `${e.sequenceLength}, ${i}`).toBeLessThanOrEqual(2 ** -22));
      expect(rotary.attentionFactor).toBeCloseTo(e.attentionFactor, 12);
    }
  });
});

describe("Phi-3's top-level original_max_position_embeddings", () => {
  it("wins over the one in rope_scaling, and defaults to 4096", () => {
    const base = {
      model_type: "phi3",
      vocab_size: 10,
      hidden_size: 8,
      num_attention_heads: 1,
      num_hidden_layers: 1,
      intermediate_size: 8,
      max_position_embeddings: 16384,
    };
    const rope_scaling = { type: "longrope", short_factor: [1, 1, 1, 1], long_factor: [2, 2, 2, 2], original_max_position_embeddings: 100 };
    const scalingOf = (config: Record<string, unknown>) => rotaryOf(createModel(config)).scaling;
    expect(scalingOf({ ...base, original_max_position_embeddings: 2048, rope_scaling })).toMatchObject({
      originalMaxPositions: 2048,
      factor: 8,
    });
    expect(scalingOf({ ...base, rope_scaling })).toMatchObject({ originalMaxPositions: 4096, factor: 4 });
  });
});

describe("the rotary tables", () => {
  it("are made once a forward for every layer, and give the logits each layer's own would", () => {
    const model = createModel(
      {
        model_type: "llama",
        vocab_size: 32,
        hidden_size: 16,
        num_attention_heads: 2,
        num_key_value_heads: 1,
        num_hidden_layers: 3,
        intermediate_size: 24,
        max_position_embeddings: 64,
      },
      { seed: 3 },
    );
    const rotary = rotaryOf(model);
    const ids = tensor([[1, 5, 9, 30]], { dtype: "int32" });
    const prepare = vi.spyOn(rotary, "prepare");
    const logits = Array.from(model.forward(ids).dataSync());
    expect(prepare).toHaveBeenCalledTimes(1);
    // without the model's tables each layer makes its own: three layers, three tables, the same floats
    const rotate = rotary.rotate.bind(rotary);
    const own = vi.spyOn(rotary, "rotate").mockImplementation((q, k, positions) => rotate(q, k, positions));
    expect(Array.from(model.forward(ids).dataSync())).toEqual(logits);
    expect(own).toHaveBeenCalledTimes(3);
    expect(prepare).toHaveBeenCalledTimes(1 + 1 + 3);
    vi.restoreAllMocks();
  });
});
