import {
  AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * MPT: ALiBi with alibi_bias_max, a fused q|k|v (Wqkv), exact-GELU MLPs of expansion_ratio,
 * pre-LN blocks, LayerNorms and projections without biases when no_bias, and a tied head.
 */
export class MPTModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wte: Embedding;
  readonly normF: LayerNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "mpt"));
    const hidden = c.int("d_model");
    const heads = c.int("n_heads");
    c.divisible("d_model", hidden, heads, "n_heads");
    const headDim = hidden / heads;
    const inner = c.int("expansion_ratio", 4) * hidden;
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const bias = !c.bool("no_bias", true);
    const norm = c.string("norm_type", "low_precision_layernorm");
    c.require("norm_type", norm === "low_precision_layernorm" || norm === "layernorm", `"layernorm" or "low_precision_layernorm"`);
    const attn = c.object("attn_config");
    attn.require("alibi", attn.bool("alibi", true), "true (MPT without ALiBi is not supported)");
    attn.require("clip_qkv", !attn.has("clip_qkv"), "null (clip_qkv is not supported)");
    attn.require("qk_ln", !attn.bool("qk_ln", false), "false (qk_ln is not supported)");
    attn.require("prefix_lm", !attn.bool("prefix_lm", false), "false (prefix LM masks are not supported)");
    attn.require("attn_uses_sequence_id", !attn.bool("attn_uses_sequence_id", false), "false");
    const scale = attn.has("softmax_scale") ? attn.number("softmax_scale") : 1 / Math.sqrt(headDim);
    const alibi = new AlibiBias(heads, { maxBias: attn.number("alibi_bias_max", 8) });

    this.wte = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: c.int("n_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "Wqkv", linear: new Linear(hidden, 3 * hidden, { bias }), layout: "blocks" },
        output: { name: "out_proj", linear: new Linear(hidden, hidden, { bias }) },
        position: alibi,
        scale,
      });
      const mlp = new MLP({ up: "up_proj", down: "down_proj" }, new Linear(hidden, inner, { bias }), new Linear(inner, hidden, { bias }), "gelu");
      return new TransformerBlock(
        {
          norm1: ["norm_1", new LayerNorm(hidden, { eps, bias })],
          attention: ["attn", attention],
          norm2: ["norm_2", new LayerNorm(hidden, { eps, bias })],
          mlp: ["ffn", mlp],
        },
        "pre-ln",
      );
    });
    this.normF = new LayerNorm(hidden, { eps, bias });
    this.addModule("transformer", new ModuleDict({ wte: this.wte, blocks: new ModuleList(this.blocks), norm_f: this.normF }));
    const tied = c.bool("tie_word_embeddings", true);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, tied ? { tiedTo: this.wte } : {}));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.wte.forward(ids);
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.normF.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "mpt", architectures: ["MptForCausalLM"] };
  }
}

export const mpt: Architecture = {
  modelType: "mpt",
  create: (config) => new MPTModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      prefix: "transformer.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as MPTModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
