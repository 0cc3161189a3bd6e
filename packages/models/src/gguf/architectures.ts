import type { GGUFValue } from "@llm/tensor";
import type { RawConfig } from "../config.js";
import { ModelError } from "../errors.js";
import type { HeadLayout } from "./rows.js";

/**
 * How each architecture we share with llama.cpp is named in GGUF: its `general.architecture`, the
 * hyperparameters (GGUF metadata <-> our config.json), and the tensors (checkpoint name <-> GGUF
 * name, and which rows llama.cpp keeps in another order: convert_hf_to_gguf's permutations).
 * Architectures llama.cpp does not run (gptj, opt, glm) have none: GGUF is how a model moves to
 * llama.cpp, Ollama and LM Studio, and a file they cannot run helps no one.
 */
export interface RowOrder {
  /** The permutation of rows (output features) between our layout and llama.cpp's. */
  readonly kind: "rope_interleave" | "qkv_per_head" | "qkv_groups";
}

export interface TensorRule {
  /** Our checkpoint name, with {i} for the layer number. */
  readonly ours: string;
  /** llama.cpp's, with {i}. */
  readonly gguf: string;
  /** Rows stored in another order by llama.cpp (see rowPermutation). */
  readonly rows?: "q" | "k" | "qkv_per_head" | "qkv_groups";
  /** Stored transposed by us (GPT-2's Conv1D [in, out]): llama.cpp keeps [out, in]. */
  readonly transposed?: boolean;
  /** Added to every value in llama.cpp's file (Gemma's norms: we keep w and scale by 1 + w, llama.cpp keeps 1 + w). */
  readonly offset?: number;
}

export interface GGUFArchitecture {
  readonly modelType: string;
  readonly ggufArch: string;
  readonly tensors: readonly TensorRule[];
  /** GGUF hyperparameters (without the "{arch}." prefix) from our config. */
  metadata(c: ConfigView): Record<string, GGUFValue>;
  /**
   * Whether llama.cpp's graph reads a scaled rotary as `rope_freqs.weight`, a factor per frequency
   * (the llama architecture: Llama 3.1's bands; see rope_freqs.ts).
   */
  readonly ropeFreqs?: boolean;
  /** The attention heads the row permutations need (architectures with permuted rows). */
  heads?(c: ConfigView): HeadLayout;
  /** Our config.json from GGUF metadata (keys without the prefix) and the tensors present. */
  config(m: MetadataView, has: (ggufName: string) => boolean, vocab: number): RawConfig;
}

/** A config.json read with defaults. */
export class ConfigView {
  constructor(readonly raw: RawConfig) {}
  num(key: string, fallback?: number): number {
    const v = this.raw[key];
    if (typeof v === "number") return v;
    if (fallback === undefined) throw new Error(`config.json: expected a number at "${key}", found ${JSON.stringify(v)}`);
    return fallback;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.raw[key];
    return typeof v === "boolean" ? v : fallback;
  }
}

/** GGUF metadata of one architecture (keys after "{arch}."), read with defaults. */
export class MetadataView {
  constructor(
    readonly arch: string,
    readonly all: ReadonlyMap<string, unknown>,
    readonly source: string,
  ) {}
  has(key: string): boolean {
    return this.all.has(`${this.arch}.${key}`);
  }
  num(key: string, fallback?: number): number {
    const v = this.all.get(`${this.arch}.${key}`);
    if (typeof v === "number") return v;
    if (fallback === undefined)
      throw new Error(
        `${this.source}: expected GGUF metadata "${this.arch}.${key}" (a number), found ${v === undefined ? "none" : JSON.stringify(v)}`,
      );
    return fallback;
  }
  bool(key: string, fallback: boolean): boolean {
    const v = this.all.get(`${this.arch}.${key}`);
    return typeof v === "boolean" ? v : fallback;
  }
}

const u32 = (value: number): GGUFValue => ({ type: "uint32", value });
const f32 = (value: number): GGUFValue => ({ type: "float32", value });
const bool = (value: boolean): GGUFValue => ({ type: "bool", value });

const llama: GGUFArchitecture = {
  modelType: "llama",
  ggufArch: "llama",
  ropeFreqs: true,
  tensors: [
    { ours: "model.embed_tokens.weight", gguf: "token_embd.weight" },
    { ours: "model.norm.weight", gguf: "output_norm.weight" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "model.layers.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "model.layers.{i}.self_attn.q_proj.weight", gguf: "blk.{i}.attn_q.weight", rows: "q" },
    { ours: "model.layers.{i}.self_attn.k_proj.weight", gguf: "blk.{i}.attn_k.weight", rows: "k" },
    { ours: "model.layers.{i}.self_attn.v_proj.weight", gguf: "blk.{i}.attn_v.weight" },
    { ours: "model.layers.{i}.self_attn.o_proj.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "model.layers.{i}.self_attn.q_proj.bias", gguf: "blk.{i}.attn_q.bias", rows: "q" },
    { ours: "model.layers.{i}.self_attn.k_proj.bias", gguf: "blk.{i}.attn_k.bias", rows: "k" },
    { ours: "model.layers.{i}.self_attn.v_proj.bias", gguf: "blk.{i}.attn_v.bias" },
    { ours: "model.layers.{i}.self_attn.o_proj.bias", gguf: "blk.{i}.attn_output.bias" },
    { ours: "model.layers.{i}.post_attention_layernorm.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "model.layers.{i}.mlp.gate_proj.weight", gguf: "blk.{i}.ffn_gate.weight" },
    { ours: "model.layers.{i}.mlp.up_proj.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "model.layers.{i}.mlp.down_proj.weight", gguf: "blk.{i}.ffn_down.weight" },
  ],
  heads(c) {
    const heads = c.num("num_attention_heads");
    return { heads, kvHeads: c.num("num_key_value_heads", heads), headDim: c.num("head_dim", c.num("hidden_size") / heads) };
  },
  metadata(c) {
    const heads = c.num("num_attention_heads");
    const headDim = c.num("head_dim", c.num("hidden_size") / heads);
    return {
      context_length: u32(c.num("max_position_embeddings", 2048)),
      embedding_length: u32(c.num("hidden_size")),
      block_count: u32(c.num("num_hidden_layers")),
      feed_forward_length: u32(c.num("intermediate_size")),
      "attention.head_count": u32(heads),
      "attention.head_count_kv": u32(c.num("num_key_value_heads", heads)),
      "attention.key_length": u32(headDim),
      "attention.value_length": u32(headDim),
      "attention.layer_norm_rms_epsilon": f32(c.num("rms_norm_eps", 1e-6)),
      "rope.dimension_count": u32(headDim),
      "rope.freq_base": f32(c.num("rope_theta", 10000)),
    };
  },
  config(m, has, vocab) {
    const hidden = m.num("embedding_length");
    const heads = m.num("attention.head_count");
    return {
      model_type: "llama",
      vocab_size: vocab,
      hidden_size: hidden,
      intermediate_size: m.num("feed_forward_length"),
      num_hidden_layers: m.num("block_count"),
      num_attention_heads: heads,
      num_key_value_heads: m.num("attention.head_count_kv", heads),
      head_dim: m.num("attention.key_length", hidden / heads),
      rms_norm_eps: m.num("attention.layer_norm_rms_epsilon", 1e-6),
      rope_theta: m.num("rope.freq_base", 10000),
      max_position_embeddings: m.num("context_length", 2048),
      attention_bias: has("blk.0.attn_q.bias"),
      tie_word_embeddings: !has("output.weight"),
    };
  },
};

/**
 * Mistral: LLaMA's blocks and LLaMA's layout in GGUF (convert_hf_to_gguf writes it as llama, and it
 * reads back as one). llama.cpp's llama graph has no sliding window, so a window shorter than the
 * context (Mistral 7B v0.1's 4,096 of 32,768) is refused; v0.2 on have none.
 */
const mistral: GGUFArchitecture = {
  ...llama,
  modelType: "mistral",
  metadata(c) {
    const window = c.raw.sliding_window === undefined ? 4096 : c.raw.sliding_window; // our mistral's default
    const context = c.num("max_position_embeddings", 4096 * 32);
    if (typeof window === "number" && window < context) {
      throw new ModelError(
        `GGUF: mistral with sliding_window ${window} (of ${context} positions) has no GGUF form here: llama.cpp runs it as llama, attending to every position, and would compute other logits past the window (sliding_window: null in config.json says to attend to all)`,
      );
    }
    return llama.metadata(c);
  },
};

/**
 * LLaMA's tensors as the models that took its blocks name them, without LLaMA's interleaved Q/K
 * rows: llama.cpp runs Qwen 2 and 3 with GPT-NeoX's rotary, which is ours (rotate_half).
 */
const llamaTensorsNeox: readonly TensorRule[] = llama.tensors.map(({ rows: _, ...rule }) => rule);

/** Refuses a sliding window llama.cpp's graph for the architecture would not apply. */
function noSlidingWindow(c: ConfigView, modelType: string): void {
  if (c.bool("use_sliding_window", false)) {
    throw new ModelError(
      `GGUF: ${modelType} with use_sliding_window has no GGUF form here: llama.cpp's ${modelType} attends to every position, and would compute other logits past the window`,
    );
  }
}

/** Qwen 2 / 2.5: LLaMA's blocks with q, k and v biases. */
const qwen2: GGUFArchitecture = {
  modelType: "qwen2",
  ggufArch: "qwen2",
  tensors: llamaTensorsNeox,
  metadata(c) {
    noSlidingWindow(c, "qwen2");
    return llama.metadata(c);
  },
  config(m, has, vocab) {
    const { attention_bias: _, ...config } = llama.config(m, has, vocab);
    return { ...config, model_type: "qwen2" };
  },
};

/** Qwen 3: LLaMA's blocks with an RMSNorm over each head's query and key, a head size of its own. */
const qwen3: GGUFArchitecture = {
  modelType: "qwen3",
  ggufArch: "qwen3",
  tensors: [
    ...llamaTensorsNeox,
    { ours: "model.layers.{i}.self_attn.q_norm.weight", gguf: "blk.{i}.attn_q_norm.weight" },
    { ours: "model.layers.{i}.self_attn.k_norm.weight", gguf: "blk.{i}.attn_k_norm.weight" },
  ],
  metadata(c) {
    noSlidingWindow(c, "qwen3");
    return llama.metadata(c);
  },
  config(m, has, vocab) {
    return { ...llama.config(m, has, vocab), model_type: "qwen3" };
  },
};

/**
 * Phi-3 / Phi-3.5 / Phi-4-mini: fused qkv_proj (all q heads, then k, then v, as llama.cpp splits
 * attn_qkv) and gate_up_proj (gate then up, as llama.cpp's fused SwiGLU halves ffn_up), GPT-NeoX's
 * rotary on rope.dimension_count of each head, a sliding window on every layer where the config has one.
 */
const phi3: GGUFArchitecture = {
  modelType: "phi3",
  ggufArch: "phi3",
  tensors: [
    { ours: "model.embed_tokens.weight", gguf: "token_embd.weight" },
    { ours: "model.norm.weight", gguf: "output_norm.weight" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "model.layers.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "model.layers.{i}.self_attn.qkv_proj.weight", gguf: "blk.{i}.attn_qkv.weight" },
    { ours: "model.layers.{i}.self_attn.o_proj.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "model.layers.{i}.post_attention_layernorm.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "model.layers.{i}.mlp.gate_up_proj.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "model.layers.{i}.mlp.down_proj.weight", gguf: "blk.{i}.ffn_down.weight" },
  ],
  metadata(c) {
    const headDim = c.num("head_dim", c.num("hidden_size") / c.num("num_attention_heads"));
    const context = c.num("max_position_embeddings", 4096);
    const window = c.raw.sliding_window;
    return {
      ...llama.metadata(c),
      context_length: u32(context),
      "rope.scaling.original_context_length": u32(c.num("original_max_position_embeddings", context)),
      "attention.layer_norm_rms_epsilon": f32(c.num("rms_norm_eps", 1e-5)),
      "rope.dimension_count": u32(Math.floor(headDim * c.num("rotary_pct", c.num("partial_rotary_factor", 1)))),
      ...(typeof window === "number" ? { "attention.sliding_window": u32(window) } : {}),
    };
  },
  config(m, has, vocab) {
    const { attention_bias: _, ...config } = llama.config(m, has, vocab);
    const rotated = m.num("rope.dimension_count", config.head_dim as number);
    const context = m.num("context_length", 4096);
    return {
      ...config,
      model_type: "phi3",
      rms_norm_eps: m.num("attention.layer_norm_rms_epsilon", 1e-5),
      partial_rotary_factor: rotated / (config.head_dim as number),
      max_position_embeddings: context,
      original_max_position_embeddings: m.num("rope.scaling.original_context_length", context),
      sliding_window: m.has("attention.sliding_window") ? m.num("attention.sliding_window") : null,
    };
  },
};

/**
 * Gemma 2: its norms before and after each sublayer, kept by llama.cpp as 1 + w; soft-capped
 * attention and final logits; a sliding window on every other layer from the first. llama.cpp
 * fixes what it does not read: queries scaled by 1 / sqrt(head size) (Gemma 2 2B and 9B, where
 * query_pre_attn_scalar is the head size), soft-capping on, the window on even layers; a config
 * that differs is refused.
 */
const gemma2: GGUFArchitecture = {
  modelType: "gemma2",
  ggufArch: "gemma2",
  tensors: [
    { ours: "model.embed_tokens.weight", gguf: "token_embd.weight" },
    { ours: "model.norm.weight", gguf: "output_norm.weight", offset: 1 },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "model.layers.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight", offset: 1 },
    { ours: "model.layers.{i}.self_attn.q_proj.weight", gguf: "blk.{i}.attn_q.weight" },
    { ours: "model.layers.{i}.self_attn.k_proj.weight", gguf: "blk.{i}.attn_k.weight" },
    { ours: "model.layers.{i}.self_attn.v_proj.weight", gguf: "blk.{i}.attn_v.weight" },
    { ours: "model.layers.{i}.self_attn.o_proj.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "model.layers.{i}.post_attention_layernorm.weight", gguf: "blk.{i}.post_attention_norm.weight", offset: 1 },
    { ours: "model.layers.{i}.pre_feedforward_layernorm.weight", gguf: "blk.{i}.ffn_norm.weight", offset: 1 },
    { ours: "model.layers.{i}.mlp.gate_proj.weight", gguf: "blk.{i}.ffn_gate.weight" },
    { ours: "model.layers.{i}.mlp.up_proj.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "model.layers.{i}.mlp.down_proj.weight", gguf: "blk.{i}.ffn_down.weight" },
    { ours: "model.layers.{i}.post_feedforward_layernorm.weight", gguf: "blk.{i}.post_ffw_norm.weight", offset: 1 },
  ],
  metadata(c) {
    const headDim = c.num("head_dim", c.num("hidden_size") / c.num("num_attention_heads"));
    const refuse = (what: string) => {
      throw new ModelError(
        `GGUF: gemma2 with ${what} has no GGUF form here: llama.cpp's gemma2 graph fixes it, and would compute other logits`,
      );
    };
    const scalar = c.num("query_pre_attn_scalar", 256);
    if (scalar !== headDim) refuse(`query_pre_attn_scalar ${scalar} (llama.cpp scales queries by 1 / sqrt(head size ${headDim}))`);
    for (const key of ["attn_logit_softcapping", "final_logit_softcapping"])
      if (c.raw[key] === null) refuse(`${key} null (llama.cpp always soft-caps)`);
    const types = c.raw.layer_types;
    if (Array.isArray(types) && types.some((t, i) => (t === "sliding_attention") !== (i % 2 === 0)))
      refuse("layer_types other than a sliding window on every other layer from the first");
    const window = c.raw.sliding_window === undefined ? 4096 : c.raw.sliding_window;
    return {
      ...llama.metadata(c),
      context_length: u32(c.num("max_position_embeddings", 8192)),
      attn_logit_softcapping: f32(c.num("attn_logit_softcapping", 50)),
      final_logit_softcapping: f32(c.num("final_logit_softcapping", 30)),
      ...(typeof window === "number" ? { "attention.sliding_window": u32(window) } : {}),
    };
  },
  config(m, has, vocab) {
    const config = llama.config(m, has, vocab);
    const layers = config.num_hidden_layers as number;
    return {
      ...config,
      model_type: "gemma2",
      query_pre_attn_scalar: config.head_dim,
      max_position_embeddings: m.num("context_length", 8192),
      attn_logit_softcapping: m.num("attn_logit_softcapping", 50),
      final_logit_softcapping: m.num("final_logit_softcapping", 30),
      sliding_window: m.has("attention.sliding_window") ? m.num("attention.sliding_window") : null,
      layer_types: Array.from({ length: layers }, (_, i) => (i % 2 === 0 ? "sliding_attention" : "full_attention")),
      hidden_activation: "gelu_pytorch_tanh",
    };
  },
};

/** GPT-2 and the other LayerNorm models share these layer names in llama.cpp. */
const gpt2: GGUFArchitecture = {
  modelType: "gpt2",
  ggufArch: "gpt2",
  tensors: [
    { ours: "transformer.wte.weight", gguf: "token_embd.weight" },
    { ours: "transformer.wpe.weight", gguf: "position_embd.weight" },
    { ours: "transformer.ln_f.weight", gguf: "output_norm.weight" },
    { ours: "transformer.ln_f.bias", gguf: "output_norm.bias" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "transformer.h.{i}.ln_1.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "transformer.h.{i}.ln_1.bias", gguf: "blk.{i}.attn_norm.bias" },
    { ours: "transformer.h.{i}.attn.c_attn.weight", gguf: "blk.{i}.attn_qkv.weight", transposed: true },
    { ours: "transformer.h.{i}.attn.c_attn.bias", gguf: "blk.{i}.attn_qkv.bias" },
    { ours: "transformer.h.{i}.attn.c_proj.weight", gguf: "blk.{i}.attn_output.weight", transposed: true },
    { ours: "transformer.h.{i}.attn.c_proj.bias", gguf: "blk.{i}.attn_output.bias" },
    { ours: "transformer.h.{i}.ln_2.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "transformer.h.{i}.ln_2.bias", gguf: "blk.{i}.ffn_norm.bias" },
    { ours: "transformer.h.{i}.mlp.c_fc.weight", gguf: "blk.{i}.ffn_up.weight", transposed: true },
    { ours: "transformer.h.{i}.mlp.c_fc.bias", gguf: "blk.{i}.ffn_up.bias" },
    { ours: "transformer.h.{i}.mlp.c_proj.weight", gguf: "blk.{i}.ffn_down.weight", transposed: true },
    { ours: "transformer.h.{i}.mlp.c_proj.bias", gguf: "blk.{i}.ffn_down.bias" },
  ],
  metadata(c) {
    const hidden = c.num("n_embd");
    return {
      context_length: u32(c.num("n_positions")),
      embedding_length: u32(hidden),
      feed_forward_length: u32(c.num("n_inner", 4 * hidden)),
      block_count: u32(c.num("n_layer")),
      "attention.head_count": u32(c.num("n_head")),
      "attention.layer_norm_epsilon": f32(c.num("layer_norm_epsilon", 1e-5)),
    };
  },
  config(m, has, vocab) {
    const hidden = m.num("embedding_length");
    return {
      model_type: "gpt2",
      vocab_size: vocab,
      n_embd: hidden,
      n_inner: m.num("feed_forward_length", 4 * hidden),
      n_layer: m.num("block_count"),
      n_head: m.num("attention.head_count"),
      n_positions: m.num("context_length"),
      layer_norm_epsilon: m.num("attention.layer_norm_epsilon", 1e-5),
      activation_function: "gelu_new",
      tie_word_embeddings: !has("output.weight"),
    };
  },
};

const gptNeox: GGUFArchitecture = {
  modelType: "gpt_neox",
  ggufArch: "gptneox",
  tensors: [
    { ours: "gpt_neox.embed_in.weight", gguf: "token_embd.weight" },
    { ours: "gpt_neox.final_layer_norm.weight", gguf: "output_norm.weight" },
    { ours: "gpt_neox.final_layer_norm.bias", gguf: "output_norm.bias" },
    { ours: "embed_out.weight", gguf: "output.weight" },
    { ours: "gpt_neox.layers.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "gpt_neox.layers.{i}.input_layernorm.bias", gguf: "blk.{i}.attn_norm.bias" },
    { ours: "gpt_neox.layers.{i}.attention.query_key_value.weight", gguf: "blk.{i}.attn_qkv.weight", rows: "qkv_per_head" },
    { ours: "gpt_neox.layers.{i}.attention.query_key_value.bias", gguf: "blk.{i}.attn_qkv.bias", rows: "qkv_per_head" },
    { ours: "gpt_neox.layers.{i}.attention.dense.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "gpt_neox.layers.{i}.attention.dense.bias", gguf: "blk.{i}.attn_output.bias" },
    { ours: "gpt_neox.layers.{i}.post_attention_layernorm.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "gpt_neox.layers.{i}.post_attention_layernorm.bias", gguf: "blk.{i}.ffn_norm.bias" },
    { ours: "gpt_neox.layers.{i}.mlp.dense_h_to_4h.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "gpt_neox.layers.{i}.mlp.dense_h_to_4h.bias", gguf: "blk.{i}.ffn_up.bias" },
    { ours: "gpt_neox.layers.{i}.mlp.dense_4h_to_h.weight", gguf: "blk.{i}.ffn_down.weight" },
    { ours: "gpt_neox.layers.{i}.mlp.dense_4h_to_h.bias", gguf: "blk.{i}.ffn_down.bias" },
  ],
  heads(c) {
    const heads = c.num("num_attention_heads");
    return { heads, kvHeads: heads, headDim: c.num("hidden_size") / heads };
  },
  metadata(c) {
    const hidden = c.num("hidden_size");
    const heads = c.num("num_attention_heads");
    return {
      context_length: u32(c.num("max_position_embeddings")),
      embedding_length: u32(hidden),
      block_count: u32(c.num("num_hidden_layers")),
      feed_forward_length: u32(c.num("intermediate_size")),
      "rope.dimension_count": u32(Math.floor(c.num("rotary_pct", 0.25) * (hidden / heads))),
      "rope.freq_base": f32(c.num("rotary_emb_base", c.num("rope_theta", 10000))),
      "attention.head_count": u32(heads),
      use_parallel_residual: bool(c.bool("use_parallel_residual", true)),
      "attention.layer_norm_epsilon": f32(c.num("layer_norm_eps", 1e-5)),
    };
  },
  config(m, has, vocab) {
    const hidden = m.num("embedding_length");
    const heads = m.num("attention.head_count");
    return {
      model_type: "gpt_neox",
      vocab_size: vocab,
      hidden_size: hidden,
      intermediate_size: m.num("feed_forward_length"),
      num_hidden_layers: m.num("block_count"),
      num_attention_heads: heads,
      rotary_pct: m.num("rope.dimension_count") / (hidden / heads),
      rope_theta: m.num("rope.freq_base", 10000),
      max_position_embeddings: m.num("context_length"),
      use_parallel_residual: m.bool("use_parallel_residual", true),
      layer_norm_eps: m.num("attention.layer_norm_epsilon", 1e-5),
      hidden_act: "gelu",
      attention_bias: has("blk.0.attn_qkv.bias"),
      tie_word_embeddings: !has("output.weight"),
    };
  },
};

const falcon: GGUFArchitecture = {
  modelType: "falcon",
  ggufArch: "falcon",
  tensors: [
    { ours: "transformer.word_embeddings.weight", gguf: "token_embd.weight" },
    { ours: "transformer.ln_f.weight", gguf: "output_norm.weight" },
    { ours: "transformer.ln_f.bias", gguf: "output_norm.bias" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "transformer.h.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "transformer.h.{i}.input_layernorm.bias", gguf: "blk.{i}.attn_norm.bias" },
    { ours: "transformer.h.{i}.self_attention.query_key_value.weight", gguf: "blk.{i}.attn_qkv.weight", rows: "qkv_groups" },
    { ours: "transformer.h.{i}.self_attention.dense.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "transformer.h.{i}.mlp.dense_h_to_4h.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "transformer.h.{i}.mlp.dense_4h_to_h.weight", gguf: "blk.{i}.ffn_down.weight" },
  ],
  heads(c) {
    const heads = c.num("num_attention_heads");
    return { heads, kvHeads: falconKvHeads(c), headDim: c.num("hidden_size") / heads };
  },
  metadata(c) {
    const hidden = c.num("hidden_size");
    return {
      context_length: u32(c.num("max_position_embeddings", 2048)),
      tensor_data_layout: { type: "string", value: "jploski" },
      embedding_length: u32(hidden),
      feed_forward_length: u32(c.num("ffn_hidden_size", 4 * hidden)),
      block_count: u32(c.num("num_hidden_layers")),
      "attention.head_count": u32(c.num("num_attention_heads")),
      "attention.head_count_kv": u32(falconKvHeads(c)),
      "attention.layer_norm_epsilon": f32(c.num("layer_norm_epsilon", 1e-5)),
      "rope.freq_base": f32(c.num("rope_theta", 10000)),
    };
  },
  config(m, _has, vocab) {
    const heads = m.num("attention.head_count");
    const kv = m.num("attention.head_count_kv", 1);
    return {
      model_type: "falcon",
      vocab_size: vocab,
      hidden_size: m.num("embedding_length"),
      ffn_hidden_size: m.num("feed_forward_length"),
      num_hidden_layers: m.num("block_count"),
      num_attention_heads: heads,
      // llama.cpp's Falcon is the parallel-attention model with one norm per layer (7B/40B-style)
      multi_query: kv === 1,
      num_kv_heads: kv,
      new_decoder_architecture: false,
      parallel_attn: true,
      bias: false,
      alibi: false,
      layer_norm_epsilon: m.num("attention.layer_norm_epsilon", 1e-5),
      rope_theta: m.num("rope.freq_base", 10000),
      max_position_embeddings: m.num("context_length", 2048),
      tie_word_embeddings: !_has("output.weight"),
    };
  },
};

/** Falcon's kv heads as its attention uses them: 1 for multi-query, num_kv_heads with the new decoder. */
export function falconKvHeads(c: ConfigView): number {
  const heads = c.num("num_attention_heads");
  if (c.bool("new_decoder_architecture", false)) return c.num("num_kv_heads", heads);
  return c.bool("multi_query", true) ? 1 : heads;
}

const bloom: GGUFArchitecture = {
  modelType: "bloom",
  ggufArch: "bloom",
  tensors: [
    { ours: "transformer.word_embeddings.weight", gguf: "token_embd.weight" },
    { ours: "transformer.word_embeddings_layernorm.weight", gguf: "token_embd_norm.weight" },
    { ours: "transformer.word_embeddings_layernorm.bias", gguf: "token_embd_norm.bias" },
    { ours: "transformer.ln_f.weight", gguf: "output_norm.weight" },
    { ours: "transformer.ln_f.bias", gguf: "output_norm.bias" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "transformer.h.{i}.input_layernorm.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "transformer.h.{i}.input_layernorm.bias", gguf: "blk.{i}.attn_norm.bias" },
    { ours: "transformer.h.{i}.self_attention.query_key_value.weight", gguf: "blk.{i}.attn_qkv.weight", rows: "qkv_per_head" },
    { ours: "transformer.h.{i}.self_attention.query_key_value.bias", gguf: "blk.{i}.attn_qkv.bias", rows: "qkv_per_head" },
    { ours: "transformer.h.{i}.self_attention.dense.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "transformer.h.{i}.self_attention.dense.bias", gguf: "blk.{i}.attn_output.bias" },
    { ours: "transformer.h.{i}.post_attention_layernorm.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "transformer.h.{i}.post_attention_layernorm.bias", gguf: "blk.{i}.ffn_norm.bias" },
    { ours: "transformer.h.{i}.mlp.dense_h_to_4h.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "transformer.h.{i}.mlp.dense_h_to_4h.bias", gguf: "blk.{i}.ffn_up.bias" },
    { ours: "transformer.h.{i}.mlp.dense_4h_to_h.weight", gguf: "blk.{i}.ffn_down.weight" },
    { ours: "transformer.h.{i}.mlp.dense_4h_to_h.bias", gguf: "blk.{i}.ffn_down.bias" },
  ],
  heads(c) {
    const heads = c.num("n_head");
    return { heads, kvHeads: heads, headDim: c.num("hidden_size") / heads };
  },
  metadata(c) {
    const hidden = c.num("hidden_size");
    const heads = c.num("n_head");
    return {
      context_length: u32(c.num("seq_length", 2048)),
      embedding_length: u32(hidden),
      feed_forward_length: u32(4 * hidden),
      block_count: u32(c.num("n_layer")),
      "attention.head_count": u32(heads),
      "attention.head_count_kv": u32(heads),
      "attention.layer_norm_epsilon": f32(c.num("layer_norm_epsilon", 1e-5)),
    };
  },
  config(m, has, vocab) {
    return {
      model_type: "bloom",
      vocab_size: vocab,
      hidden_size: m.num("embedding_length"),
      n_layer: m.num("block_count"),
      n_head: m.num("attention.head_count"),
      layer_norm_epsilon: m.num("attention.layer_norm_epsilon", 1e-5),
      seq_length: m.num("context_length", 2048),
      tie_word_embeddings: !has("output.weight"),
    };
  },
};

const mpt: GGUFArchitecture = {
  modelType: "mpt",
  ggufArch: "mpt",
  tensors: [
    { ours: "transformer.wte.weight", gguf: "token_embd.weight" },
    { ours: "transformer.norm_f.weight", gguf: "output_norm.weight" },
    { ours: "transformer.norm_f.bias", gguf: "output_norm.bias" },
    { ours: "lm_head.weight", gguf: "output.weight" },
    { ours: "transformer.blocks.{i}.norm_1.weight", gguf: "blk.{i}.attn_norm.weight" },
    { ours: "transformer.blocks.{i}.norm_1.bias", gguf: "blk.{i}.attn_norm.bias" },
    { ours: "transformer.blocks.{i}.attn.Wqkv.weight", gguf: "blk.{i}.attn_qkv.weight" },
    { ours: "transformer.blocks.{i}.attn.Wqkv.bias", gguf: "blk.{i}.attn_qkv.bias" },
    { ours: "transformer.blocks.{i}.attn.out_proj.weight", gguf: "blk.{i}.attn_output.weight" },
    { ours: "transformer.blocks.{i}.attn.out_proj.bias", gguf: "blk.{i}.attn_output.bias" },
    { ours: "transformer.blocks.{i}.norm_2.weight", gguf: "blk.{i}.ffn_norm.weight" },
    { ours: "transformer.blocks.{i}.norm_2.bias", gguf: "blk.{i}.ffn_norm.bias" },
    { ours: "transformer.blocks.{i}.ffn.up_proj.weight", gguf: "blk.{i}.ffn_up.weight" },
    { ours: "transformer.blocks.{i}.ffn.up_proj.bias", gguf: "blk.{i}.ffn_up.bias" },
    { ours: "transformer.blocks.{i}.ffn.down_proj.weight", gguf: "blk.{i}.ffn_down.weight" },
    { ours: "transformer.blocks.{i}.ffn.down_proj.bias", gguf: "blk.{i}.ffn_down.bias" },
  ],
  metadata(c) {
    const hidden = c.num("d_model");
    const attn = (c.raw.attn_config ?? {}) as Record<string, unknown>;
    const out: Record<string, GGUFValue> = {
      context_length: u32(c.num("max_seq_len")),
      embedding_length: u32(hidden),
      block_count: u32(c.num("n_layers")),
      feed_forward_length: u32(c.num("expansion_ratio", 4) * hidden),
      "attention.head_count": u32(c.num("n_heads")),
      "attention.layer_norm_epsilon": f32(c.num("layer_norm_epsilon", 1e-5)),
      "attention.max_alibi_bias": f32(typeof attn.alibi_bias_max === "number" ? attn.alibi_bias_max : 8),
    };
    if (typeof attn.clip_qkv === "number") out["attention.clamp_kqv"] = f32(attn.clip_qkv);
    return out;
  },
  config(m, has, vocab) {
    const hidden = m.num("embedding_length");
    const attn: Record<string, unknown> = { alibi: true, alibi_bias_max: m.num("attention.max_alibi_bias", 8) };
    if (m.has("attention.clamp_kqv")) attn.clip_qkv = m.num("attention.clamp_kqv");
    return {
      model_type: "mpt",
      vocab_size: vocab,
      d_model: hidden,
      n_layers: m.num("block_count"),
      n_heads: m.num("attention.head_count"),
      expansion_ratio: m.num("feed_forward_length") / hidden,
      max_seq_len: m.num("context_length"),
      layer_norm_epsilon: m.num("attention.layer_norm_epsilon", 1e-5),
      no_bias: !has("blk.0.attn_qkv.bias"),
      attn_config: attn,
      tie_word_embeddings: !has("output.weight"),
    };
  },
};

/** Reading picks the first of an architecture name: llama before mistral. */
export const GGUF_ARCHITECTURES: readonly GGUFArchitecture[] = [
  llama,
  mistral,
  qwen2,
  qwen3,
  phi3,
  gemma2,
  gpt2,
  gptNeox,
  falcon,
  bloom,
  mpt,
];

export function ggufArchitectureFor(modelType: string): GGUFArchitecture | undefined {
  return GGUF_ARCHITECTURES.find((a) => a.modelType === modelType);
}

export function ggufArchitectureNamed(ggufArch: string): GGUFArchitecture | undefined {
  return GGUF_ARCHITECTURES.find((a) => a.ggufArch === ggufArch);
}
