import {
  Attention, Embedding, GatedMLP, Linear, ModuleDict, ModuleList, OutputHead, RMSNorm, RotaryEmbedding,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, requireDefaultRope, ropeTheta, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * LLaMA: RMSNorm pre-norm blocks, SwiGLU MLP, rotary (rotate_half) on whole heads, grouped-query
 * attention (num_key_value_heads kv heads shared by groups of query heads), no biases by default.
 */
export class LlamaModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly embedTokens: Embedding;
  readonly norm: RMSNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "llama"));
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    const kvHeads = c.int("num_key_value_heads", heads);
    c.divisible("num_attention_heads", heads, kvHeads, "num_key_value_heads");
    if (!c.has("head_dim")) c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = c.int("head_dim", hidden / heads);
    const inner = c.int("intermediate_size");
    const eps = c.number("rms_norm_eps", 1e-6);
    const activation = c.activation("hidden_act", "silu");
    const vocab = c.int("vocab_size");
    const attentionBias = c.bool("attention_bias", false);
    const mlpBias = c.bool("mlp_bias", false);
    requireDefaultRope(c);
    const rotary = new RotaryEmbedding(headDim, { theta: ropeTheta(c), style: "half" });

    this.embedTokens = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const b = { bias: attentionBias };
      const attention = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, heads * headDim, b),
          k: new Linear(hidden, kvHeads * headDim, b),
          v: new Linear(hidden, kvHeads * headDim, b),
        },
        output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, b) },
        position: rotary,
      });
      const m = { bias: mlpBias };
      const mlp = new GatedMLP(
        { gate: "gate_proj", up: "up_proj", down: "down_proj" },
        { gate: new Linear(hidden, inner, m), up: new Linear(hidden, inner, m), down: new Linear(inner, hidden, m) },
        activation,
      );
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", new RMSNorm(hidden, { eps })],
          attention: ["self_attn", attention],
          norm2: ["post_attention_layernorm", new RMSNorm(hidden, { eps })],
          mlp: ["mlp", mlp],
        },
        "pre-ln",
      );
    });
    this.norm = new RMSNorm(hidden, { eps });
    this.addModule("model", new ModuleDict({ embed_tokens: this.embedTokens, layers: new ModuleList(this.blocks), norm: this.norm }));
    const tied = c.bool("tie_word_embeddings", false);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, tied ? { tiedTo: this.embedTokens } : {}));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.embedTokens.forward(ids);
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.norm.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "llama", architectures: ["LlamaForCausalLM"] };
  }
}

export const llama: Architecture = {
  modelType: "llama",
  create: (config) => new LlamaModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      drop: [/rotary_emb\.inv_freq$/],
      prefix: "model.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as LlamaModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
