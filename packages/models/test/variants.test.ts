import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { concat, noGrad, Rng, tensor, type Tensor } from "@llm/tensor";
import { createModel, type Model } from "@llm/models";
import { loadModel, saveModel } from "@llm/models/node";
import { maxAbsDiff } from "./fixture_files.js";

/** Valid configs unlike the fixtures', one per choice the fixtures leave out. */
const VARIANTS: [string, Record<string, unknown>][] = [
  [
    "gpt2: untied head, 3 heads, exact GELU",
    {
      model_type: "gpt2",
      vocab_size: 50,
      n_positions: 32,
      n_embd: 24,
      n_layer: 2,
      n_head: 3,
      n_inner: 40,
      activation_function: "gelu",
      tie_word_embeddings: false,
    },
  ],
  [
    "gptj: rotary_dim 4 of 8, tied head",
    { model_type: "gptj", vocab_size: 50, n_positions: 32, n_embd: 24, n_layer: 2, n_head: 3, rotary_dim: 4, tie_word_embeddings: true },
  ],
  [
    "gpt_neox: rotary_pct 0.5, sequential residual, tied, old rope keys",
    {
      model_type: "gpt_neox",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 48,
      rotary_pct: 0.5,
      rotary_emb_base: 500,
      use_parallel_residual: false,
      tie_word_embeddings: true,
      max_position_embeddings: 32,
    },
  ],
  [
    "opt: post-LN, word_embed_proj_dim 16 != hidden 32",
    {
      model_type: "opt",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      ffn_dim: 48,
      max_position_embeddings: 32,
      word_embed_proj_dim: 16,
      do_layer_norm_before: false,
    },
  ],
  [
    "bloom: 6 heads, residual from the norm",
    { model_type: "bloom", vocab_size: 50, hidden_size: 48, n_head: 6, n_layer: 2, apply_residual_connection_post_layernorm: true },
  ],
  [
    "llama: one kv head, tied head, theta 500000",
    {
      model_type: "llama",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      num_hidden_layers: 2,
      intermediate_size: 40,
      rope_theta: 500000,
      tie_word_embeddings: true,
    },
  ],
  [
    "falcon: new_decoder_architecture, 2 kv heads, two norms, biases",
    {
      model_type: "falcon",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_kv_heads: 2,
      num_hidden_layers: 2,
      new_decoder_architecture: true,
      bias: true,
    },
  ],
  [
    "falcon: per-head qkv, sequential, ALiBi (RW)",
    {
      model_type: "falcon",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      multi_query: false,
      parallel_attn: false,
      alibi: true,
      bias: true,
    },
  ],
  [
    "falcon: RefinedWeb-era config (n_head, n_layer, n_head_kv)",
    { model_type: "RefinedWeb", vocab_size: 50, hidden_size: 32, n_head: 4, n_head_kv: 2, n_layer: 2, new_decoder_architecture: true },
  ],
  [
    "mpt: 6 heads, alibi_bias_max 16, biases",
    {
      model_type: "mpt",
      vocab_size: 50,
      d_model: 48,
      n_heads: 6,
      n_layers: 2,
      expansion_ratio: 2,
      max_seq_len: 32,
      no_bias: false,
      attn_config: { alibi: true, alibi_bias_max: 16 },
    },
  ],
  [
    "llama: Llama 3.1 rope scaling as transformers 4.4x writes it (rope_scaling + rope_theta), explicit head_dim",
    {
      model_type: "llama",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 6,
      num_hidden_layers: 2,
      intermediate_size: 40,
      rope_theta: 500000,
      max_position_embeddings: 64,
      rope_scaling: { rope_type: "llama3", factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 },
    },
  ],
  [
    "llama: linear rope scaling (type: linear)",
    {
      model_type: "llama",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 40,
      rope_scaling: { type: "linear", factor: 4 },
    },
  ],
  [
    "llama: yarn in rope_parameters with mscale (transformers 5.x)",
    {
      model_type: "llama",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 40,
      max_position_embeddings: 128,
      rope_parameters: {
        rope_type: "yarn",
        rope_theta: 10000,
        factor: 4,
        original_max_position_embeddings: 8,
        mscale: 1,
        mscale_all_dim: 0.5,
      },
    },
  ],
  [
    "llama: dynamic NTK within its context",
    {
      model_type: "llama",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 40,
      max_position_embeddings: 32,
      rope_scaling: { type: "dynamic", factor: 2 },
    },
  ],
  [
    "mistral: sliding window 3 over 7 tokens, tied head",
    {
      model_type: "mistral",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 1,
      num_hidden_layers: 2,
      intermediate_size: 40,
      sliding_window: 3,
      tie_word_embeddings: true,
    },
  ],
  [
    "mistral: no window (sliding_window null, v0.2 on)",
    {
      model_type: "mistral",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_hidden_layers: 2,
      intermediate_size: 40,
      sliding_window: null,
    },
  ],
  [
    "qwen2: use_sliding_window with max_window_layers 1 (layer 1 windowed), tied head",
    {
      model_type: "qwen2",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      num_hidden_layers: 2,
      intermediate_size: 40,
      use_sliding_window: true,
      sliding_window: 2,
      max_window_layers: 1,
      tie_word_embeddings: true,
    },
  ],
  [
    "qwen3: head_dim 6 (x 4 heads != 32), biases, layer_types, yarn",
    {
      model_type: "qwen3",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 6,
      num_hidden_layers: 2,
      intermediate_size: 40,
      attention_bias: true,
      use_sliding_window: true,
      sliding_window: 3,
      layer_types: ["sliding_attention", "full_attention"],
      rope_parameters: { rope_type: "yarn", rope_theta: 1000000, factor: 4, original_max_position_embeddings: 16 },
      tie_word_embeddings: false,
    },
  ],
  [
    "gemma2: 3 layers alternating by default, window 3, no soft-caps, untied, GQA",
    {
      model_type: "gemma2",
      vocab_size: 50,
      hidden_size: 24,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 8,
      num_hidden_layers: 3,
      intermediate_size: 40,
      query_pre_attn_scalar: 8,
      sliding_window: 3,
      attn_logit_softcapping: null,
      final_logit_softcapping: null,
      tie_word_embeddings: false,
    },
  ],
  [
    "gemma2: soft-caps and windows as Gemma 2 2B sets them, scaled down",
    {
      model_type: "gemma2",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 2,
      num_key_value_heads: 1,
      head_dim: 12,
      num_hidden_layers: 2,
      intermediate_size: 40,
      sliding_window: 4,
      layer_types: ["full_attention", "sliding_attention"],
    },
  ],
  [
    "phi3: partial rotary 0.5, Phi-3.5's longrope, GQA in the fused qkv, sliding window 4, tied",
    {
      model_type: "phi3",
      vocab_size: 50,
      hidden_size: 32,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      num_hidden_layers: 2,
      intermediate_size: 40,
      max_position_embeddings: 256,
      original_max_position_embeddings: 64,
      sliding_window: 4,
      tie_word_embeddings: true,
      rope_scaling: { type: "longrope", short_factor: [1, 1.5], long_factor: [2, 8] },
      partial_rotary_factor: 0.5,
    },
  ],
  [
    "glm: 3 heads, default positions",
    { model_type: "glm", vocab_size: 50, hidden_size: 24, num_layers: 2, num_attention_heads: 3, max_sequence_length: 32 },
  ],
];

const ids = tensor(
  [
    [1, 5, 9, 2, 7, 3, 8],
    [4, 4, 0, 11, 6, 2, 1],
  ],
  { dtype: "int32" },
);
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** Logits of ids fed through the cache in pieces of 4, 1 and 2 tokens. */
function incremental(model: Model): Tensor {
  const cache = model.createCache();
  let start = 0;
  const pieces = [4, 1, 2].map((n) => {
    const out = model.forward(ids.slice(1, start, start + n), { cache });
    start += n;
    return out;
  });
  cache.dispose();
  return concat(pieces, 1);
}

describe.each(VARIANTS)("%s", (_, config) => {
  const model = createModel(config, { rng: new Rng(11), std: 0.3 });

  it("gives the same logits through the KV cache as in one forward", () => {
    noGrad(() => {
      const full = model.forward(ids);
      expect(full.shape).toEqual([2, 7, 50]);
      expect(maxAbsDiff(incremental(model), full)).toBeLessThan(1e-4);
    });
  });

  it("ignores left padding: a padded row's logits equal the unpadded row's", () => {
    noGrad(() => {
      const padded = tensor(
        [
          [0, 0, 5, 9, 2],
          [1, 5, 9, 2, 7],
        ],
        { dtype: "int32" },
      );
      const mask = tensor(
        [
          [0, 0, 1, 1, 1],
          [1, 1, 1, 1, 1],
        ],
        { dtype: "int32" },
      );
      const out = model.forward(padded, { attentionMask: mask });
      const alone = model.forward(tensor([[5, 9, 2]], { dtype: "int32" }));
      expect(maxAbsDiff(out.slice(0, 0, 1).slice(1, 2), alone)).toBeLessThan(1e-4);
    });
  });

  it("saves a checkpoint that loads back to the same model", async () => {
    const { config: saved, tensors } = model.toCheckpoint();
    // Defaults are spelled out, so readers with other defaults (transformers) build the same model.
    expect(saved).toMatchObject({ ...config, model_type: saved.model_type });
    expect(Object.keys(saved).length).toBeGreaterThan(Object.keys(config).length);
    const dir = mkdtempSync(join(tmpdir(), "llm-models-"));
    dirs.push(dir);
    await saveModel(model, dir);
    const loaded = await loadModel(dir);
    expect(Object.keys(loaded.stateDict())).toEqual(Object.keys(tensors));
    noGrad(() => expect(maxAbsDiff(loaded.forward(ids), model.forward(ids))).toBe(0));
  });

  it("saves in shards with their index, and loads them back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "llm-models-shards-"));
    dirs.push(dir);
    await saveModel(model, dir); // a single file first: sharding must replace it, not sit beside it
    const total = model.parameters().reduce((n, p) => n + 4 * p.size, 0);
    await saveModel(model, dir, { maxShardBytes: Math.ceil(total / 3) });
    const files = readdirSync(dir).sort();
    expect(files).not.toContain("model.safetensors");
    expect(files).toContain("model.safetensors.index.json");
    const shards = files.filter((f) => /^model-\d{5}-of-\d{5}\.safetensors$/.test(f));
    expect(shards.length).toBeGreaterThanOrEqual(3);
    const index = JSON.parse(readFileSync(join(dir, "model.safetensors.index.json"), "utf8")) as { metadata: { total_size: number } };
    expect(index.metadata.total_size).toBe(total);
    const loaded = await loadModel(dir);
    noGrad(() => expect(maxAbsDiff(loaded.forward(ids), model.forward(ids))).toBe(0));
    await saveModel(model, dir); // and back to one file: the shards and index go
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors"]);
  });
});
