import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { noGrad, type Tensor } from "@llm/tensor";
import { CheckpointError, createModel, loadModelFrom, modelFromCheckpoint, ModelConfigError } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { checkpointFilesFromBytes, CpuBackend } from "@llm/tensor";
import { writeFileAtomic, writeSafetensorsFile } from "@llm/tensor/node";
import { maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

const dirs: string[] = [];
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "llm-models-errors-"));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

let gpt2: Fixture;
beforeAll(async () => {
  gpt2 = await readFixture("gpt2");
});

const without = (tensors: Record<string, Tensor>, key: string) => Object.fromEntries(Object.entries(tensors).filter(([k]) => k !== key));

describe("checkpoints that do not fit", () => {
  it("names an unknown model_type and the ones we know", () => {
    expect(() => createModel({ model_type: "t5" })).toThrow(ModelConfigError);
    expect(() => createModel({ model_type: "t5" })).toThrow(
      /"model_type" must be one of gpt2, gptj, gpt_neox, opt, bloom, llama, falcon, mpt, glm, mistral, qwen2, qwen3, gemma2, phi3, found "t5"/,
    );
    expect(() => createModel({})).toThrow(/found nothing/);
  });

  it("names a missing tensor", () => {
    expect(() => modelFromCheckpoint(gpt2.config, without(gpt2.weights, "transformer.h.1.ln_2.bias"))).toThrow(
      /missing keys: transformer\.h\.1\.ln_2\.bias/,
    );
  });

  it("names an extra tensor", () => {
    const extra = { ...gpt2.weights, "transformer.h.2.ln_1.weight": gpt2.weights["transformer.ln_f.weight"]! };
    expect(() => modelFromCheckpoint(gpt2.config, extra)).toThrow(CheckpointError);
    expect(() => modelFromCheckpoint(gpt2.config, extra)).toThrow(/unexpected keys: transformer\.h\.2\.ln_1\.weight/);
  });

  it("names a tensor of the wrong shape with both shapes", () => {
    const config = { ...gpt2.config, n_embd: 64, n_inner: 128 };
    expect(() => modelFromCheckpoint(config, gpt2.weights)).toThrow(
      /transformer\.h\.0\.mlp\.c_fc\.weight: expected shape \[64,128\], found \[64,256\]/,
    );
  });

  it("accepts the buffers and the tied head duplicate that downloaded GPT-2 files carry", () => {
    const downloaded: Record<string, Tensor> = {};
    for (const [k, t] of Object.entries(gpt2.weights)) downloaded[k.replace(/^transformer\./, "")] = t;
    downloaded["h.0.attn.bias"] = gpt2.weights["transformer.ln_f.bias"]!;
    downloaded["lm_head.weight"] = gpt2.weights["transformer.wte.weight"]!;
    const model = modelFromCheckpoint(gpt2.config, downloaded);
    noGrad(() => expect(maxAbsDiff(model.forward(gpt2.reference.input_ids!), gpt2.reference.logits!)).toBeLessThanOrEqual(1e-4));
  });

  it("widens float16 weights to float32", () => {
    const halves = Object.fromEntries(Object.entries(gpt2.weights).map(([k, t]) => [k, t.cast("float16")]));
    const widened = Object.fromEntries(Object.entries(halves).map(([k, t]) => [k, t.float()]));
    const a = modelFromCheckpoint(gpt2.config, halves);
    const b = modelFromCheckpoint(gpt2.config, widened);
    expect(a.parameters().every((p) => p.dtype === "float32")).toBe(true);
    noGrad(() => expect(maxAbsDiff(a.forward(gpt2.reference.input_ids!), b.forward(gpt2.reference.input_ids!))).toBe(0));
  });
});

describe("configs we do not support", () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    [
      "heads that do not divide the width",
      { model_type: "gpt2", vocab_size: 10, n_positions: 8, n_embd: 30, n_head: 4, n_layer: 1 },
      /gpt2 config: "n_embd" \(30\) must be divisible by "n_head" \(4\)/,
    ],
    [
      "a missing size",
      { model_type: "opt", vocab_size: 10, hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, max_position_embeddings: 8 },
      /opt config: "ffn_dim" must be a positive integer, found nothing/,
    ],
    [
      "a rope type we do not know",
      {
        model_type: "llama",
        vocab_size: 10,
        hidden_size: 8,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
        rope_scaling: { type: "mrope", factor: 2 },
      },
      /llama rope_scaling config: "type" must be one of default, linear, dynamic, llama3, yarn, longrope, found "mrope"/,
    ],
    [
      "longrope factors that do not fit the rotary dims",
      {
        model_type: "phi3",
        vocab_size: 10,
        hidden_size: 16,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
        rope_parameters: { rope_type: "longrope", short_factor: [1, 1], long_factor: [1, 1, 1, 1] },
      },
      /phi3 rope_parameters config: "short_factor" must be 4 positive numbers \(rotary dims \/ 2\), found \[1,1\]/,
    ],
    [
      "llama3 bands the wrong way round",
      {
        model_type: "llama",
        vocab_size: 10,
        hidden_size: 8,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
        rope_parameters: { rope_type: "llama3", factor: 8, low_freq_factor: 4, high_freq_factor: 1, original_max_position_embeddings: 8 },
      },
      /"high_freq_factor" must be greater than low_freq_factor \(4\), found 1/,
    ],
    [
      "partial rotary on a family that rotates whole heads",
      {
        model_type: "mistral",
        vocab_size: 10,
        hidden_size: 8,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
        partial_rotary_factor: 0.5,
      },
      /mistral config: "partial_rotary_factor" must be 1 \(this family rotates whole heads\), found 0.5/,
    ],
    [
      "layer_types of the wrong length",
      {
        model_type: "gemma2",
        vocab_size: 10,
        hidden_size: 8,
        num_attention_heads: 2,
        head_dim: 4,
        num_hidden_layers: 2,
        intermediate_size: 8,
        layer_types: ["sliding_attention"],
      },
      /gemma2 config: "layer_types" must be a list of 2 entries \(num_hidden_layers\), each "full_attention" or "sliding_attention", found \["sliding_attention"\]/,
    ],
    [
      "a sliding window of 0",
      {
        model_type: "mistral",
        vocab_size: 10,
        hidden_size: 8,
        num_attention_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
        sliding_window: 0,
      },
      /mistral config: "sliding_window" must be a positive integer, found 0/,
    ],
    [
      "kv heads that do not divide the heads",
      {
        model_type: "llama",
        vocab_size: 10,
        hidden_size: 12,
        num_attention_heads: 3,
        num_key_value_heads: 2,
        num_hidden_layers: 1,
        intermediate_size: 8,
      },
      /"num_attention_heads" \(3\) must be divisible by "num_key_value_heads" \(2\)/,
    ],
    [
      "MPT's clip_qkv",
      { model_type: "mpt", vocab_size: 10, d_model: 8, n_heads: 2, n_layers: 1, attn_config: { clip_qkv: 6 } },
      /mpt attn_config config: "clip_qkv" must be null \(clip_qkv is not supported\), found 6/,
    ],
    [
      "an unknown activation",
      { model_type: "gpt_neox", vocab_size: 10, hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, hidden_act: "mish" },
      /gpt_neox config: "hidden_act" must be one of .*found "mish"/,
    ],
    [
      "Falcon's two norms without the new architecture",
      { model_type: "falcon", vocab_size: 10, hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, num_ln_in_parallel_attn: 2 },
      /falcon config: "num_ln_in_parallel_attn" must be 1 or null unless new_decoder_architecture, found 2/,
    ],
    [
      "a rotary fraction that leaves no pair",
      { model_type: "gpt_neox", vocab_size: 10, hidden_size: 8, num_attention_heads: 2, num_hidden_layers: 1, rotary_pct: 0.1 },
      /"rotary_pct" must be a fraction giving an even number >= 2 of the 4 head dims, found 0.1/,
    ],
    [
      "GLM's relative encoding",
      {
        model_type: "glm",
        vocab_size: 10,
        hidden_size: 8,
        num_layers: 1,
        num_attention_heads: 2,
        max_sequence_length: 8,
        relative_encoding: true,
      },
      /glm config: "relative_encoding" must be false/,
    ],
  ];
  it.each(cases)("%s", (_, config, message) => {
    expect(() => createModel(config)).toThrow(ModelConfigError);
    expect(() => createModel(config)).toThrow(message);
  });
});

describe("loadModel", () => {
  it("loads a fixture folder as downloaded", async () => {
    const model = await loadModel(gpt2.dir);
    noGrad(() => expect(maxAbsDiff(model.forward(gpt2.reference.input_ids!), gpt2.reference.logits!)).toBeLessThanOrEqual(1e-4));
  });

  it("puts the weights on the backend it is given, and takes ids made on the default backend", async () => {
    const other = new CpuBackend();
    const model = await loadModel(gpt2.dir, { backend: other });
    expect(model.parameters().every((p) => p.backend === other)).toBe(true);
    const logits = noGrad(() => model.forward(gpt2.reference.input_ids!)); // ids on the default cpuBackend
    expect(logits.backend).toBe(other);
    expect(maxAbsDiff(logits, gpt2.reference.logits!)).toBeLessThanOrEqual(1e-4);
  });

  it("loads a sharded checkpoint through model.safetensors.index.json", async () => {
    const dir = tempDir();
    const names = Object.keys(gpt2.weights);
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    for (const [i, shard] of shards.entries()) {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const tensors: Record<string, Tensor> = Object.fromEntries(shard.map((n) => [n, gpt2.weights[n]!]));
      await writeSafetensorsFile(join(dir, file), tensors);
      for (const n of shard) weightMap[n] = file;
    }
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    writeFileSync(join(dir, "config.json"), JSON.stringify(gpt2.config));
    const model = await loadModel(dir);
    noGrad(() => expect(maxAbsDiff(model.forward(gpt2.reference.input_ids!), gpt2.reference.logits!)).toBeLessThanOrEqual(1e-4));
  });

  it("reads from any CheckpointFiles: here, bytes in memory (as a browser that fetched them would)", async () => {
    const files = checkpointFilesFromBytes(
      {
        "config.json": readFileSync(join(gpt2.dir, "config.json")),
        "model.safetensors": readFileSync(join(gpt2.dir, "model.safetensors")),
      },
      "in-memory gpt2",
    );
    const model = await loadModelFrom(files);
    expect(model.parameters().length).toBe(Object.keys(gpt2.grads).length);
    noGrad(() => expect(maxAbsDiff(model.forward(gpt2.reference.input_ids!), gpt2.reference.logits!)).toBeLessThanOrEqual(1e-4));
    await expect(loadModelFrom(checkpointFilesFromBytes({ "config.json": JSON.stringify(gpt2.config) }, "empty"))).rejects.toThrow(
      /empty: expected model\.safetensors or model\.safetensors\.index\.json, found neither/,
    );
  });

  it("checks every name and shape before reading any weight, naming the folder", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...gpt2.config, n_inner: 128 }));
    await writeSafetensorsFile(join(dir, "model.safetensors"), without(gpt2.weights, "transformer.ln_f.bias"));
    const error = await loadModel(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CheckpointError);
    expect(String(error)).toContain(dir);
    expect(String(error)).toMatch(/missing keys: transformer\.ln_f\.bias/);
    expect(String(error)).toMatch(/transformer\.h\.0\.mlp\.c_fc\.weight: expected shape \[64,128\], found \[64,256\]/);
  });

  it("refuses integer tensors where weights belong", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "config.json"), JSON.stringify(gpt2.config));
    await writeSafetensorsFile(join(dir, "model.safetensors"), {
      ...gpt2.weights,
      "transformer.ln_f.bias": gpt2.weights["transformer.ln_f.bias"]!.int(),
    });
    await expect(loadModel(dir)).rejects.toThrow(/tensor "transformer\.ln_f\.bias": expected a floating-point dtype .* found I32/);
  });

  it("names a folder without config.json, a bad config.json, and an unknown model_type before reading tensors", async () => {
    const dir = tempDir();
    await expect(loadModel(dir)).rejects.toThrow(/expected a config\.json, found none/);
    await writeFileAtomic(join(dir, "config.json"), new TextEncoder().encode("{not json"));
    await expect(loadModel(dir)).rejects.toThrow(/config\.json: expected JSON, found a parse error/);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ model_type: "bert" }));
    await expect(loadModel(dir)).rejects.toThrow(/: config\.json: "model_type" must be one of .* found "bert"/);
    await expect(loadModel(dir)).rejects.toThrow(ModelConfigError);
    writeFileSync(join(dir, "config.json"), JSON.stringify({ ...gpt2.config, n_head: 5 }));
    await expect(loadModel(dir)).rejects.toThrow(`${dir}: gpt2 config: "n_embd" (64) must be divisible by "n_head" (5)`);
  });
});
