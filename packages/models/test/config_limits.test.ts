import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ARCHITECTURES, CheckpointError, createModel, estimateParameterBytes, ModelConfigError } from "@llm/models";
import { loadGGUF, loadModel, saveGGUF } from "@llm/models/node";
import { FIXTURES } from "./fixture_files.js";

// Each config here is a few hundred bytes that once exhausted memory, hung, or ended in a raw
// RangeError. Every one must now be refused by the config check, before any weight is allocated
// (and before millions of modules are built), with an error naming the key.

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const fixtureConfig = (name: string) => JSON.parse(readFileSync(join(FIXTURES, name, "config.json"), "utf8")) as Record<string, unknown>;

/** A copy of a fixture folder with config.json edited. */
function fixtureWith(name: string, edit: (config: Record<string, unknown>) => void, files = ["model.safetensors"]): string {
  const dir = join(mkdtempSync(join(tmpdir(), "llm-config-limits-")), name);
  dirs.push(join(dir, ".."));
  mkdirSync(dir);
  const config = fixtureConfig(name);
  edit(config);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  for (const f of files) copyFileSync(join(FIXTURES, name, f), join(dir, f));
  return dir;
}

const gpt2 = fixtureConfig("gpt2");
const llama = fixtureConfig("llama");

describe("configs that describe models too large to hold", () => {
  it("n_layer: 1000000 is refused before any block is built, naming the key", () => {
    const started = performance.now();
    expect(() => createModel({ ...gpt2, n_layer: 1_000_000 })).toThrow(ModelConfigError);
    expect(() => createModel({ ...gpt2, n_layer: 1_000_000 })).toThrow(/"n_layer" must be an integer in \[1, 1024\], found 1000000/);
    // (not a timing assertion on speed: a hang here used to take minutes and gigabytes)
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("falcon hidden_size: 1e9 is refused at once (it ran a minute computing rotary tables for a 2.5e8-wide head)", () => {
    expect(() => createModel({ ...fixtureConfig("falcon"), hidden_size: 1e9 })).toThrow(
      /falcon config: "hidden_size" must be an integer in \[1, 1048576\], found 1000000000/,
    );
    expect(() => createModel({ ...gpt2, n_embd: 1e9 })).toThrow(
      /gpt2 config: "n_embd" must be an integer in \[1, 1048576\], found 1000000000/,
    );
  });

  for (const [key, value] of [
    ["n_embd", 1e6],
    ["vocab_size", 1e9],
    ["n_positions", 1e9],
  ] as const) {
    it(`${key}: ${value} is refused with the bytes it would need, not a raw RangeError`, () => {
      const create = () => createModel({ ...gpt2, [key]: value, ...(key === "n_embd" ? { n_head: 1 } : {}) });
      expect(create).toThrow(ModelConfigError);
      expect(create).toThrow(
        /gpt2 config: describes a model of [\d.]+e\+\d+ parameters, which needs [\d.e+]+ bytes as float32 \([\d.]+ [GTPE]B\), more than the \d+ allowed/,
      );
    });
  }

  it("llama head_dim: 1e9 is refused at once, naming head_dim", () => {
    const started = performance.now();
    expect(() => createModel({ ...llama, head_dim: 1e9 })).toThrow(
      /llama config: "head_dim" must be an integer in \[1, 65536\], found 1000000000/,
    );
    expect(performance.now() - started).toBeLessThan(5000);
  });

  it("a model over the given maxParameterBytes is refused with both figures", () => {
    const bytes = estimateParameterBytes(createModel(gpt2));
    expect(bytes).toBeGreaterThan(0);
    expect(() => createModel(gpt2, { maxParameterBytes: bytes - 1 })).toThrow(
      new RegExp(`which needs ${bytes} bytes as float32 \\([\\d.]+ KB\\), more than the ${bytes - 1} allowed \\(maxParameterBytes\\)`),
    );
    expect(() => createModel(gpt2, { maxParameterBytes: bytes })).not.toThrow();
  });

  it("the budget counts weights as the loader will hold them: in the asked dtype, or as a GGUF file stores them", async () => {
    const float32 = estimateParameterBytes(createModel(llama));
    // between the Q4_0 and the float32 sizes: refused as float32, held as Q4_0
    const budget = Math.ceil(float32 / 4);
    await expect(loadModel(`${FIXTURES}llama`, { maxParameterBytes: budget })).rejects.toThrow(
      /bytes as float32 .*more than the \d+ allowed/,
    );
    const q4 = await loadModel(`${FIXTURES}llama`, { dtype: "q4_0", maxParameterBytes: budget });
    const scratch = mkdtempSync(join(tmpdir(), "llm-budget-"));
    dirs.push(scratch);
    const file = join(scratch, "llama-q4_0.gguf");
    await saveGGUF(q4, file);
    q4.dispose();
    const { model } = await loadGGUF(file, { maxParameterBytes: budget });
    expect(model.parameters().some((p) => p.dtype === "q4_0")).toBe(true);
    model.dispose();
    await expect(loadGGUF(file, { maxParameterBytes: 1000 })).rejects.toThrow(/bytes as the file's dtypes .*more than the 1000 allowed/);
    await expect(loadGGUF(file, { dtype: "float32", maxParameterBytes: budget })).rejects.toThrow(/bytes as float32/);
  });

  it("loadModel refuses a config that disagrees with the weights' size before reading any weight", async () => {
    const dir = fixtureWith("gpt2", (c) => {
      c.n_layer = 500;
    });
    await expect(loadModel(dir)).rejects.toThrow(CheckpointError);
    await expect(loadModel(dir)).rejects.toThrow(/missing keys: transformer\.h\.2\./);
  });
});

describe("numbers that used to load and give NaN, or be blamed on another key", () => {
  it("layer_norm_epsilon: -1 is refused (it loaded, and every logit was NaN)", () => {
    expect(() => createModel({ ...gpt2, layer_norm_epsilon: -1 })).toThrow(/"layer_norm_epsilon" must be a finite number > 0, found -1/);
    expect(() => createModel({ ...llama, rms_norm_eps: 0 })).toThrow(/"rms_norm_eps" must be a finite number > 0, found 0/);
  });

  it("rope_theta must be positive and named", () => {
    expect(() => createModel({ ...llama, rope_parameters: { rope_type: "default", rope_theta: -5 } })).toThrow(
      /llama rope_parameters config: "rope_theta" must be a finite number > 0, found -5/,
    );
  });

  it("partial_rotary_factor: 2 is reported under its own name", () => {
    const neox = fixtureConfig("gpt_neox");
    expect(() => createModel({ ...neox, rope_parameters: { ...(neox.rope_parameters as object), partial_rotary_factor: 2 } })).toThrow(
      /gpt_neox rope_parameters config: "partial_rotary_factor" must be a number in \(0, 1\], found 2/,
    );
    expect(() => createModel({ ...neox, rope_parameters: null, rotary_pct: 0 })).toThrow(
      /"rotary_pct" must be a number in \(0, 1\], found 0/,
    );
  });

  it("initializer_range must be a number in [0, 1] (8e17 gave infinite logits)", () => {
    expect(() => createModel({ ...gpt2, initializer_range: -1 })).toThrow(/"initializer_range" must be a number in \[0, 1\], found -1/);
    expect(() => createModel({ ...gpt2, initializer_range: 8e17 })).toThrow(
      /"initializer_range" must be a number in \[0, 1\], found 800000000000000000/,
    );
    expect(() => createModel({ ...gpt2, initializer_range: "big" })).toThrow(
      /"initializer_range" must be a number in \[0, 1\], found "big"/,
    );
  });

  it("a value a layer refuses (an odd rotary head_dim) is a ModelConfigError naming the values read", () => {
    expect(() => createModel({ ...llama, head_dim: 105 })).toThrow(ModelConfigError);
    expect(() => createModel({ ...llama, head_dim: 105 })).toThrow(
      /llama config: these values make a layer that cannot be built: RotaryEmbedding: rotaryDim must be an even integer .* \(values read: .*head_dim=105/,
    );
  });
});

describe("values nested thousands deep", () => {
  it("are named in a short preview (JSON.stringify overflowed the stack in the message)", () => {
    const deep = JSON.parse(`${"[".repeat(5000)}1${"]".repeat(5000)}`);
    expect(() => createModel({ ...gpt2, n_embd: deep })).toThrow(/"n_embd" must be a positive integer, found \[\[\[\[\.\.\.\]\]\]\]/);
    expect(() => createModel({ ...gpt2, model_type: deep })).toThrow(/"model_type" must be one of .*, found \[\[\[\[\.\.\.\]\]\]\]/);
  });
});

describe("folders without weights", () => {
  it("a missing model.safetensors is a CheckpointError naming the folder", async () => {
    const dir = fixtureWith("gpt2", () => undefined, []);
    await expect(loadModel(dir)).rejects.toThrow(CheckpointError);
    await expect(loadModel(dir)).rejects.toThrow(/expected model\.safetensors or model\.safetensors\.index\.json, found neither/);
  });
});

describe("every architecture gets the generic checks", () => {
  for (const name of ARCHITECTURES.keys()) {
    it(`${name}: a layer count of 10^6 and a negative epsilon are refused`, () => {
      const config = fixtureConfig(name);
      const layerKey = ["n_layer", "num_hidden_layers", "n_layers", "num_layers"].find((k) => k in config)!;
      expect(() => createModel({ ...config, [layerKey]: 1_000_000 })).toThrow(
        new RegExp(`"${layerKey}" must be an integer in \\[1, 1024\\]`),
      );
      const epsKey = Object.keys(config).find((k) => /eps(ilon)?$/.test(k));
      if (epsKey) expect(() => createModel({ ...config, [epsKey]: -1 })).toThrow(new RegExp(`"${epsKey}" must be a finite number > 0`));
    });
  }
});
