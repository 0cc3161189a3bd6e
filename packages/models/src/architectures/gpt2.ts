import {
  Attention, Embedding, LayerNorm, LearnedPositions, Linear, MLP, ModuleDict, ModuleList, OutputHead,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * GPT-2: learned positions, pre-LN blocks, GELU (tanh) MLP, fused q|k|v. Its Conv1D layers store
 * weights as [in, out], so Linear keeps that layout and the file's tensors load untransposed.
 * The output head is the token embedding (tied) unless tie_word_embeddings is false.
 */
export class GPT2Model extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wte: Embedding;
  readonly positions: LearnedPositions;
  readonly lnF: LayerNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "gpt2"));
    const hidden = c.int("n_embd");
    const heads = c.int("n_head");
    c.divisible("n_embd", hidden, heads, "n_head");
    const headDim = hidden / heads;
    const inner = c.int("n_inner", 4 * hidden);
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const activation = c.activation("activation_function", "gelu_new");
    c.require("add_cross_attention", !c.bool("add_cross_attention", false), "false (encoder-decoder GPT-2 is not supported)");
    const scaleWeights = c.bool("scale_attn_weights", true);
    const byLayer = c.bool("scale_attn_by_inverse_layer_idx", false);
    const vocab = c.int("vocab_size");
    const maxPositions = c.int("n_positions");
    const conv = { layout: "in_out" } as const;

    this.wte = new Embedding(vocab, hidden);
    const wpe = new Embedding(maxPositions, hidden);
    this.positions = new LearnedPositions(wpe);
    this.blocks = Array.from({ length: c.int("n_layer") }, (_, layer) => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "c_attn", linear: new Linear(hidden, 3 * hidden, conv), layout: "blocks" },
        output: { name: "c_proj", linear: new Linear(hidden, hidden, conv) },
        scale: (scaleWeights ? 1 / Math.sqrt(headDim) : 1) / (byLayer ? layer + 1 : 1),
      });
      const mlp = new MLP({ up: "c_fc", down: "c_proj" }, new Linear(hidden, inner, conv), new Linear(inner, hidden, conv), activation);
      return new TransformerBlock(
        { norm1: ["ln_1", new LayerNorm(hidden, { eps })], attention: ["attn", attention], norm2: ["ln_2", new LayerNorm(hidden, { eps })], mlp: ["mlp", mlp] },
        "pre-ln",
      );
    });
    this.lnF = new LayerNorm(hidden, { eps });
    this.addModule("transformer", new ModuleDict({ wte: this.wte, wpe, h: new ModuleList(this.blocks), ln_f: this.lnF }));
    const tied = c.bool("tie_word_embeddings", true);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, tied ? { tiedTo: this.wte } : {}));
    this.config = { vocabSize: vocab, maxPositions };
  }

  protected embed(ids: Tensor, positionIds: Tensor): Tensor {
    return this.wte.forward(ids).add(this.positions.embed(positionIds));
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "gpt2", architectures: ["GPT2LMHeadModel"] };
  }
}

/** Original OpenAI GPT-2 files name tensors without "transformer." and carry causal-mask buffers. */
export const gpt2: Architecture = {
  modelType: "gpt2",
  create: (config) => new GPT2Model(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      drop: [/\.attn\.(bias|masked_bias)$/],
      prefix: "transformer.",
      topLevel: ["lm_head.weight"],
      tiedHeadKey: (model as GPT2Model).lmHead.tied ? "lm_head.weight" : null,
    }),
};
