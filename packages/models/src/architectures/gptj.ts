import {
  Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead, RotaryEmbedding,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { normalizeKeys } from "../keys.js";

/**
 * GPT-J: rotary positions on the first rotary_dim dims of each head in interleaved pairs,
 * attention and MLP in parallel off one LayerNorm, separate bias-free q/k/v, an untied head with bias.
 */
export class GPTJModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wte: Embedding;
  readonly lnF: LayerNorm;
  readonly lmHead: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "gptj"));
    const hidden = c.int("n_embd");
    const heads = c.int("n_head");
    c.divisible("n_embd", hidden, heads, "n_head");
    const headDim = hidden / heads;
    const inner = c.int("n_inner", 4 * hidden);
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const activation = c.activation("activation_function", "gelu_new");
    const vocab = c.int("vocab_size");
    const rotaryDim = c.int("rotary_dim", headDim);
    c.require("rotary_dim", rotaryDim % 2 === 0 && rotaryDim <= headDim, `an even number <= the head dim ${headDim}`);
    const rotary = new RotaryEmbedding(headDim, { rotaryDim, theta: c.number("rope_theta", 10000), style: "interleaved" });

    this.wte = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: c.int("n_layer") }, () => {
      const noBias = { bias: false };
      const attention = new Attention({
        heads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, hidden, noBias),
          k: new Linear(hidden, hidden, noBias),
          v: new Linear(hidden, hidden, noBias),
        },
        output: { name: "out_proj", linear: new Linear(hidden, hidden, noBias) },
        position: rotary,
      });
      const mlp = new MLP({ up: "fc_in", down: "fc_out" }, new Linear(hidden, inner), new Linear(inner, hidden), activation);
      return new TransformerBlock({ norm1: ["ln_1", new LayerNorm(hidden, { eps })], attention: ["attn", attention], mlp: ["mlp", mlp] }, "parallel");
    });
    this.lnF = new LayerNorm(hidden, { eps });
    this.addModule("transformer", new ModuleDict({ wte: this.wte, h: new ModuleList(this.blocks), ln_f: this.lnF }));
    const tied = c.bool("tie_word_embeddings", false);
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, { bias: true, ...(tied ? { tiedTo: this.wte } : {}) }));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.wte.forward(ids);
  }

  protected head(hidden: Tensor): Tensor {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "gptj", architectures: ["GPTJForCausalLM"] };
  }
}

export const gptj: Architecture = {
  modelType: "gptj",
  create: (config) => new GPTJModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(tensors, {
      drop: [/\.attn\.(bias|masked_bias)$/, /embed_positions$/],
      prefix: "transformer.",
      topLevel: ["lm_head.weight", "lm_head.bias"],
      tiedHeadKey: (model as GPTJModel).lmHead.tied ? "lm_head.weight" : null,
    }),
};
