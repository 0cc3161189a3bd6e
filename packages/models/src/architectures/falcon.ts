import {
  AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead, RotaryEmbedding,
  TransformerBlock, TransformerLanguageModel, type BlockParts, type FusedLayout, type LanguageModelConfig, type ResidualLayout,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, requireDefaultRope, ropeTheta, withAliases, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * Falcon: rotary (or ALiBi) positions, one fused q/k/v in one of three layouts (multi-query:
 * all query heads then one k and one v; new_decoder_architecture: per kv group, its query heads
 * then k and v; otherwise per head), attention and MLP in parallel off one norm (or two, ln_attn
 * and ln_mlp), optional biases, and a tied head.
 */
export class FalconModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wordEmbeddings: Embedding;
  readonly lnF: LayerNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    // RefinedWeb-era configs spell the sizes n_head, n_layer, n_head_kv.
    const c = (this.settings = new ConfigReader(withAliases(raw, FALCON_ALIASES), "falcon"));
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const inner = c.int("ffn_hidden_size", 4 * hidden);
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const bias = c.bool("bias", false);
    const activation = c.activation("activation", "gelu");
    const newArchitecture = c.bool("new_decoder_architecture", false);
    const multiQuery = c.bool("multi_query", true);
    const parallel = c.bool("parallel_attn", true);
    const norms = c.has("num_ln_in_parallel_attn") ? c.int("num_ln_in_parallel_attn") : newArchitecture ? 2 : 1;
    c.require("num_ln_in_parallel_attn", norms === 1 || norms === 2, "1 or 2");
    c.require("num_ln_in_parallel_attn", !(parallel && !newArchitecture && norms === 2), "1 or null unless new_decoder_architecture");
    c.require("parallel_attn", parallel || !newArchitecture, "true when new_decoder_architecture is true");

    let kvHeads: number;
    let layout: FusedLayout;
    if (newArchitecture) {
      kvHeads = c.int("num_kv_heads", heads);
      c.divisible("num_attention_heads", heads, kvHeads, "num_kv_heads");
      layout = "grouped";
    } else if (multiQuery) {
      [kvHeads, layout] = [1, "blocks"];
    } else {
      [kvHeads, layout] = [heads, "grouped"];
    }
    let position: RotaryEmbedding | AlibiBias;
    if (c.bool("alibi", false)) {
      // Falcon adds ALiBi before scaling the scores by 1/sqrt(headDim).
      position = new AlibiBias(heads, { scale: 1 / Math.sqrt(headDim) });
    } else {
      requireDefaultRope(c);
      position = new RotaryEmbedding(headDim, { theta: ropeTheta(c), style: "half" });
    }

    this.wordEmbeddings = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const attention = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, (heads + 2 * kvHeads) * headDim, { bias }), layout },
        output: { name: "dense", linear: new Linear(hidden, hidden, { bias }) },
        position,
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, inner, { bias }), new Linear(inner, hidden, { bias }), activation);
      const ln = () => new LayerNorm(hidden, { eps });
      let parts: BlockParts;
      let residual: ResidualLayout;
      if (!parallel) {
        parts = { norm1: ["input_layernorm", ln()], attention: ["self_attention", attention], norm2: ["post_attention_layernorm", ln()], mlp: ["mlp", mlp] };
        residual = "pre-ln";
      } else if (norms === 2) {
        parts = { norm1: ["ln_attn", ln()], attention: ["self_attention", attention], norm2: ["ln_mlp", ln()], mlp: ["mlp", mlp] };
        residual = "parallel-two-norms";
      } else {
        parts = { norm1: ["input_layernorm", ln()], attention: ["self_attention", attention], mlp: ["mlp", mlp] };
        residual = "parallel";
      }
      return new TransformerBlock(parts, residual);
    });
    this.lnF = new LayerNorm(hidden, { eps });
    this.addModule("transformer", new ModuleDict({ word_embeddings: this.wordEmbeddings, h: new ModuleList(this.blocks), ln_f: this.lnF }));
    const tied = c.bool("tie_word_embeddings", true);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, tied ? { tiedTo: this.wordEmbeddings } : {}));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.wordEmbeddings.forward(ids);
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "falcon", architectures: ["FalconForCausalLM"] };
  }
}

const FALCON_ALIASES = { n_head: "num_attention_heads", n_layer: "num_hidden_layers", n_head_kv: "num_kv_heads" };

export const falcon: Architecture = {
  modelType: "falcon",
  aliases: ["RefinedWeb", "RefinedWebModel"],
  create: (config) => new FalconModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      prefix: "transformer.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as FalconModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
