import {
  Attention, Embedding, LayerNorm, LearnedPositions, Linear, MLP, ModuleDict, ModuleList, OutputHead,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig, type Module,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * OPT: learned positions read 2 rows into their table, ReLU MLPs, separate q/k/v with biases;
 * pre-LN blocks, or post-LN ones without a final norm (do_layer_norm_before=false, OPT-350m).
 * When word_embed_proj_dim differs from hidden_size, embeddings are projected in and out, and the
 * tied head works at the embedding width.
 */
export class OPTModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly embedTokens: Embedding;
  readonly positions: LearnedPositions;
  readonly projectIn: Linear | null;
  readonly projectOut: Linear | null;
  readonly finalNorm: LayerNorm | null;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "opt"));
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const inner = c.int("ffn_dim");
    const vocab = c.int("vocab_size");
    const embedDim = c.int("word_embed_proj_dim", hidden);
    const maxPositions = c.int("max_position_embeddings");
    const preLN = c.bool("do_layer_norm_before", true);
    const bias = c.bool("enable_bias", true);
    const affine = c.bool("layer_norm_elementwise_affine", true);
    const activation = c.activation("activation_function", "relu");
    const norm = () => new LayerNorm(hidden, { eps: 1e-5, affine });

    this.embedTokens = new Embedding(vocab, embedDim);
    const table = new Embedding(maxPositions + 2, hidden);
    this.positions = new LearnedPositions(table, { offset: 2 });
    this.projectIn = embedDim !== hidden ? new Linear(embedDim, hidden, { bias: false }) : null;
    this.projectOut = embedDim !== hidden ? new Linear(hidden, embedDim, { bias: false }) : null;
    this.blocks = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, hidden, { bias }),
          k: new Linear(hidden, hidden, { bias }),
          v: new Linear(hidden, hidden, { bias }),
        },
        output: { name: "out_proj", linear: new Linear(hidden, hidden, { bias }) },
      });
      // OPT's layers hold fc1/fc2 directly rather than under an "mlp" module.
      const mlp = new MLP({ up: "fc1", down: "fc2" }, new Linear(hidden, inner, { bias }), new Linear(inner, hidden, { bias }), activation);
      return new TransformerBlock(
        { norm1: ["self_attn_layer_norm", norm()], attention: ["self_attn", attention], norm2: ["final_layer_norm", norm()], mlp: ["", mlp] },
        preLN ? "pre-ln" : "post-ln",
      );
    });
    this.finalNorm = preLN && !c.bool("_remove_final_layer_norm", false) ? norm() : null;
    const decoder: Record<string, Module> = { embed_tokens: this.embedTokens, embed_positions: table, layers: new ModuleList(this.blocks) };
    if (this.finalNorm) decoder.final_layer_norm = this.finalNorm;
    if (this.projectIn && this.projectOut) Object.assign(decoder, { project_in: this.projectIn, project_out: this.projectOut });
    this.addModule("model", new ModuleDict({ decoder: new ModuleDict(decoder) }));
    const tied = c.bool("tie_word_embeddings", true);
    this.lmHead = this.addModule("lm_head", new OutputHead(embedDim, vocab, tied ? { tiedTo: this.embedTokens } : {}));
    this.config = { vocabSize: vocab, maxPositions };
  }

  protected embed(ids: Tensor, positionIds: Tensor): Tensor {
    const tokens = this.embedTokens.forward(ids);
    const projected = this.projectIn ? this.projectIn.forward(tokens) : tokens;
    return projected.add(this.positions.embed(positionIds));
  }

  protected head(hidden: Tensor): Tensor {
    let h = this.finalNorm ? this.finalNorm.forward(hidden) : hidden;
    if (this.projectOut) h = this.projectOut.forward(h);
    return this.lmHead.forward(h);
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "opt", architectures: ["OPTForCausalLM"] };
  }
}

export const opt: Architecture = {
  modelType: "opt",
  create: (config) => new OPTModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      prefix: "model.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as OPTModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
