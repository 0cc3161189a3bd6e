import {
  AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * BLOOM: ALiBi instead of position embeddings (any head count), a LayerNorm right after the token
 * embedding, a fused q/k/v laid out per head, tanh-GELU MLPs, pre-LN blocks and a tied head.
 */
export class BloomModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wordEmbeddings: Embedding;
  readonly embeddingNorm: LayerNorm;
  readonly lnF: LayerNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "bloom"));
    const hidden = c.int("hidden_size", c.has("n_embed") ? c.int("n_embed") : undefined);
    const heads = c.int("n_head");
    c.divisible("hidden_size", hidden, heads, "n_head");
    const headDim = hidden / heads;
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const residualFromNorm = c.bool("apply_residual_connection_post_layernorm", false);
    const alibi = new AlibiBias(heads);

    this.wordEmbeddings = new Embedding(vocab, hidden);
    this.embeddingNorm = new LayerNorm(hidden, { eps });
    this.blocks = Array.from({ length: c.int("n_layer") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "grouped" },
        output: { name: "dense", linear: new Linear(hidden, hidden) },
        position: alibi,
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, 4 * hidden), new Linear(4 * hidden, hidden), "gelu_tanh");
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", new LayerNorm(hidden, { eps })],
          attention: ["self_attention", attention],
          norm2: ["post_attention_layernorm", new LayerNorm(hidden, { eps })],
          mlp: ["mlp", mlp],
        },
        residualFromNorm ? "pre-ln-residual-from-norm" : "pre-ln",
      );
    });
    this.lnF = new LayerNorm(hidden, { eps });
    this.addModule(
      "transformer",
      new ModuleDict({
        word_embeddings: this.wordEmbeddings,
        word_embeddings_layernorm: this.embeddingNorm,
        h: new ModuleList(this.blocks),
        ln_f: this.lnF,
      }),
    );
    const tied = c.bool("tie_word_embeddings", true);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, tied ? { tiedTo: this.wordEmbeddings } : {}));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.embeddingNorm.forward(this.wordEmbeddings.forward(ids));
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "bloom", architectures: ["BloomForCausalLM"] };
  }
}

/** bigscience/bloom-* files are saved from BloomModel: no "transformer." prefix. */
export const bloom: Architecture = {
  modelType: "bloom",
  create: (config) => new BloomModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      prefix: "transformer.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as BloomModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
