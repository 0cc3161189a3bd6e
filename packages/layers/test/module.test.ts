import { describe, expect, it } from "vitest";
import { ones, Rng, tensor, zeros } from "@llm/tensor";
import { Embedding, LayerNorm, Linear, ModuleDict, ModuleList, OutputHead, StateDictError } from "@llm/layers";
import { values } from "./helpers.js";

function tinyModel() {
  const embedding = new Embedding(5, 3);
  const layers = new ModuleList([new Linear(3, 3), new Linear(3, 3, { bias: false })]);
  const model = new ModuleDict({ wte: embedding, h: layers, ln_f: new LayerNorm(3), lm_head: new OutputHead(3, 5, { tiedTo: embedding }) });
  return { model, embedding, layers };
}

describe("Module", () => {
  it("names parameters by path and lists a tied weight once", () => {
    const { model } = tinyModel();
    expect(Object.keys(model.stateDict())).toEqual(["wte.weight", "h.0.weight", "h.0.bias", "h.1.weight", "ln_f.weight", "ln_f.bias"]);
    expect(model.parameters().every((p) => p.requiresGrad)).toBe(true);
  });

  it("loads a state dict into the same tensors, widening float16", () => {
    const { model, layers } = tinyModel();
    const dict = Object.fromEntries(Object.entries(model.stateDict()).map(([k, p]) => [k, ones(p.shape)]));
    dict["ln_f.bias"] = full16([3], 0.5);
    const weight = layers.items[0]!.weight;
    model.loadStateDict(dict);
    expect(layers.items[0]!.weight).toBe(weight);
    expect(values(weight)).toEqual(new Array(9).fill(1));
    expect(values(model.stateDict()["ln_f.bias"]!)).toEqual([0.5, 0.5, 0.5]);
  });

  it("reports every missing, unexpected and mis-shaped key by name", () => {
    const { model } = tinyModel();
    const dict = Object.fromEntries(Object.entries(model.stateDict()).map(([k, p]) => [k, zeros(p.shape)]));
    delete dict["h.1.weight"];
    dict["h.0.weight"] = zeros([3, 4]);
    dict["h.7.weight"] = zeros([3, 3]);
    let error: unknown;
    try {
      model.loadStateDict(dict, { source: "model.safetensors" });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(StateDictError);
    const e = error as StateDictError;
    expect(e.missing).toEqual(["h.1.weight"]);
    expect(e.unexpected).toEqual(["h.7.weight"]);
    expect(e.mismatched).toEqual([{ key: "h.0.weight", expected: [3, 3], found: [3, 4] }]);
    expect(e.message).toMatch(
      /^model\.safetensors: .*missing keys: h\.1\.weight; unexpected keys: h\.7\.weight; h\.0\.weight: expected shape \[3,3\], found \[3,4\]/,
    );
  });

  it("non-strict loading returns missing and unexpected keys instead of throwing", () => {
    const { model } = tinyModel();
    const result = model.loadStateDict({ "wte.weight": zeros([5, 3]), extra: zeros([1]) }, { strict: false });
    expect(result.unexpected).toEqual(["extra"]);
    expect(result.missing).toContain("ln_f.weight");
  });

  it("initializes from a seed: normal weights, zero biases, unit norm gains; same seed, same values", () => {
    const a = tinyModel().model;
    const b = tinyModel().model;
    a.initialize(new Rng(7), 0.02);
    b.initialize(new Rng(7), 0.02);
    const sa = a.stateDict();
    expect(values(sa["h.0.bias"]!)).toEqual([0, 0, 0]);
    expect(values(sa["ln_f.weight"]!)).toEqual([1, 1, 1]);
    expect(values(sa["h.0.weight"]!)).toEqual(values(b.stateDict()["h.0.weight"]!));
    expect(values(sa["h.0.weight"]!).some((v) => v !== 0)).toBe(true);
  });

  it("train() and eval() reach every submodule", () => {
    const { model, layers } = tinyModel();
    model.eval();
    expect(layers.items[1]!.training).toBe(false);
    model.train();
    expect(layers.items[1]!.training).toBe(true);
  });
});

function full16(shape: number[], value: number) {
  return tensor(new Array(shape.reduce((a, b) => a * b, 1)).fill(value), { shape }).cast("float16");
}
