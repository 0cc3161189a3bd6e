import {
  Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead, RotaryEmbedding,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, requireDefaultRope, ropeTheta, type RawConfig } from "../config.js";
import { normalizeKeys, renameKey } from "../keys.js";

/**
 * GPT-NeoX / Pythia: rotary on a fraction of each head (rotate_half), a fused q/k/v laid out per
 * head ([heads, 3, headDim] = "grouped" with one query head per group), and either the parallel
 * residual with two LayerNorms or sequential pre-LN blocks.
 */
export class GPTNeoXModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly embedIn: Embedding;
  readonly finalNorm: LayerNorm;
  readonly embedOut: OutputHead;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "gpt_neox"));
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const inner = c.int("intermediate_size", 4 * hidden);
    const eps = c.number("layer_norm_eps", 1e-5);
    const activation = c.activation("hidden_act", "gelu");
    const vocab = c.int("vocab_size");
    const bias = c.bool("attention_bias", true);
    requireDefaultRope(c);
    const rope = c.object("rope_parameters");
    const fraction = rope.has("partial_rotary_factor") ? rope.number("partial_rotary_factor") : c.number("rotary_pct", 0.25);
    c.require("rotary_pct", fraction > 0 && fraction <= 1, "a fraction in (0, 1]");
    const rotaryDim = Math.floor(headDim * fraction);
    c.require("rotary_pct", rotaryDim >= 2 && rotaryDim % 2 === 0, `a fraction giving an even number >= 2 of the ${headDim} head dims`);
    const rotary = new RotaryEmbedding(headDim, { rotaryDim, theta: ropeTheta(c), style: "half" });
    const parallel = c.bool("use_parallel_residual", true);

    this.embedIn = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden, { bias }), layout: "grouped" },
        output: { name: "dense", linear: new Linear(hidden, hidden, { bias }) },
        position: rotary,
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, inner), new Linear(inner, hidden), activation);
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", new LayerNorm(hidden, { eps })],
          attention: ["attention", attention],
          norm2: ["post_attention_layernorm", new LayerNorm(hidden, { eps })],
          mlp: ["mlp", mlp],
        },
        parallel ? "parallel-two-norms" : "pre-ln",
      );
    });
    this.finalNorm = new LayerNorm(hidden, { eps });
    this.addModule("gpt_neox", new ModuleDict({ embed_in: this.embedIn, layers: new ModuleList(this.blocks), final_layer_norm: this.finalNorm }));
    const tied = c.bool("tie_word_embeddings", false);
    this.embedOut = this.addModule("embed_out", new OutputHead(hidden, vocab, tied ? { tiedTo: this.embedIn } : {}));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
  }

  protected embed(ids: Tensor): Tensor {
    return this.embedIn.forward(ids);
  }

  protected head(hidden: Tensor): Tensor {
    return this.embedOut.forward(this.finalNorm.forward(hidden));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "gpt_neox", architectures: ["GPTNeoXForCausalLM"] };
  }
}

/** Files written from transformers 5's in-memory names call the head lm_head; we keep the saved name. */
export const gptNeox: Architecture = {
  modelType: "gpt_neox",
  create: (config) => new GPTNeoXModel(config),
  normalizeKeys: (tensors, model) =>
    normalizeKeys(renameKey(tensors, "lm_head.weight", "embed_out.weight"), {
      drop: [/\.attention\.(bias|masked_bias)$/, /rotary_emb\.inv_freq$/],
      prefix: "gpt_neox.",
      topLevel: ["embed_out.weight"],
      tiedHeadKey: (model as GPTNeoXModel).embedOut.tied ? "embed_out.weight" : null,
    }),
};
