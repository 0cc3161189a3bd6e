import {
  Attention, defaultPositionIds, Embedding, Glm2DPositions, LayerNorm, Linear, linearForward, MLP, ModuleDict, ModuleList,
  TransformerBlock, TransformerLanguageModel, type LanguageModelConfig,
} from "@llm/layers";
import { arange, concat, zeros, type Tensor } from "@llm/tensor";
import type { Architecture } from "../architecture.js";
import { ConfigReader, type RawConfig } from "../config.js";
import { ModelConfigError } from "../errors.js";

/**
 * GLM (THUDM/GLM, block_position_encoding): token embeddings plus two learned position tables
 * (position in the text, position inside the filled span), pre-LN blocks with tanh-GELU MLPs and
 * a fused q|k|v, a final LayerNorm, and the token embedding as the output head. Part A attends
 * both ways, Part B causally: pass glmBlockMask(batch, seq, sep) as attentionMask.
 */
export class GLMModel extends TransformerLanguageModel {
  readonly config: LanguageModelConfig;
  protected readonly blocks: readonly TransformerBlock[];
  readonly wordEmbeddings: Embedding;
  readonly positions: Glm2DPositions;
  readonly finalNorm: LayerNorm;

  private readonly settings: ConfigReader;

  constructor(readonly raw: RawConfig) {
    super();
    const c = (this.settings = new ConfigReader(raw, "glm"));
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const eps = c.number("layernorm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const maxPositions = c.int("max_sequence_length");
    c.require("block_position_encoding", c.bool("block_position_encoding", true), "true (GLM's 2D positions)");
    c.require("relative_encoding", !c.bool("relative_encoding", false), "false (Transformer-XL relative encoding is not supported)");
    const attentionScale = c.number("attention_scale", 1);
    c.require("attention_scale", attentionScale >= 1, "a number >= 1");

    this.wordEmbeddings = new Embedding(vocab, hidden);
    const positionTable = new Embedding(maxPositions + 1, hidden);
    const blockTable = new Embedding(maxPositions + 1, hidden);
    this.positions = new Glm2DPositions(positionTable, blockTable);
    this.blocks = Array.from({ length: c.int("num_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "blocks" },
        output: { name: "dense", linear: new Linear(hidden, hidden) },
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, 4 * hidden), new Linear(4 * hidden, hidden), "gelu_tanh");
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", new LayerNorm(hidden, { eps })],
          attention: ["attention", attention],
          norm2: ["post_attention_layernorm", new LayerNorm(hidden, { eps })],
          mlp: ["mlp", mlp],
        },
        "pre-ln",
      );
    });
    this.finalNorm = new LayerNorm(hidden, { eps });
    this.addModule("word_embeddings", this.wordEmbeddings);
    this.addModule(
      "transformer",
      new ModuleDict({
        block_position_embeddings: blockTable,
        final_layernorm: this.finalNorm,
        layers: new ModuleList(this.blocks),
        position_embeddings: positionTable,
      }),
    );
    this.config = { vocabSize: vocab, maxPositions };
  }

  /** Without 2D ids: plain left-to-right text (positions as for any model, block position 0). */
  protected override defaultPositions(batch: number, seq: number, past: number, attentionMask?: Tensor): Tensor {
    const position = defaultPositionIds(batch, seq, past, attentionMask).reshape(batch, 1, seq);
    return concat([position, zeros([batch, 1, seq], { dtype: "int32" })], 1);
  }

  protected embed(ids: Tensor, positionIds: Tensor): Tensor {
    return this.wordEmbeddings.forward(ids).add(this.positions.embed(positionIds));
  }

  protected head(hidden: Tensor): Tensor {
    return linearForward(this.finalNorm.forward(hidden), this.wordEmbeddings.weight.transpose(0, 1));
  }

  checkpointConfig(): Record<string, unknown> {
    return { ...this.settings.resolvedConfig(), model_type: "glm" };
  }
}

/**
 * GLM's attention mask, bool [batch, seq, seq]: the first `sep` tokens (Part A) see each other
 * both ways; every later token (Part B) sees Part A and the Part B tokens up to itself.
 */
export function glmBlockMask(batch: number, seq: number, sep: number): Tensor {
  if (!Number.isInteger(sep) || sep < 0 || sep > seq) {
    throw new ModelConfigError(`glmBlockMask: sep must be an integer in [0, ${seq}], found ${sep}`);
  }
  const rows = arange(0, seq).reshape(seq, 1);
  const cols = arange(0, seq).reshape(1, seq);
  return cols.le(rows).logicalOr(cols.lt(sep)).reshape(1, seq, seq).expand(batch, seq, seq);
}

export const glm: Architecture = { modelType: "glm", create: (config) => new GLMModel(config) };
