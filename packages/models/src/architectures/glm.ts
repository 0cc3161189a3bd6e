import { Attention, Embedding, Glm2DPositions, LayerNorm, Linear, MLP, OutputHead, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { arange, type Tensor } from "@llm/tensor";
import { defineArchitecture } from "../architecture.js";
import { ModelConfigError } from "../errors.js";

/**
 * GLM (THUDM/GLM, block_position_encoding): token embeddings plus two learned position tables
 * (position in the text, position inside the filled span), pre-LN blocks with tanh-GELU MLPs and
 * a fused q|k|v, a final LayerNorm, and the token embedding as the output head. Part A attends
 * both ways, Part B causally: pass glmBlockMask(batch, seq, sep) as attentionMask.
 */
export const glm = defineArchitecture({
  modelType: "glm",
  build(c) {
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
    const ln = () => new LayerNorm(hidden, { eps });

    const wordEmbeddings = new Embedding(vocab, hidden);
    const positionEmbeddings = new Embedding(maxPositions + 1, hidden);
    const blockPositionEmbeddings = new Embedding(maxPositions + 1, hidden);
    const layers = Array.from({ length: c.int("num_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "blocks" },
        output: { name: "dense", linear: new Linear(hidden, hidden) },
      });
      const mlp = new MLP(
        { up: "dense_h_to_4h", down: "dense_4h_to_h" },
        new Linear(hidden, 4 * hidden),
        new Linear(4 * hidden, hidden),
        "gelu_tanh",
      );
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", ln()],
          attention: ["attention", attention],
          norm2: ["post_attention_layernorm", ln()],
          mlp: ["mlp", mlp],
        },
        "pre-ln",
      );
    });
    const finalLayernorm = ln();
    return {
      modules: {
        word_embeddings: wordEmbeddings,
        transformer: {
          block_position_embeddings: blockPositionEmbeddings,
          final_layernorm: finalLayernorm,
          layers,
          position_embeddings: positionEmbeddings,
        },
      },
      embed: new TokenEmbedder({ tokens: wordEmbeddings, positions: new Glm2DPositions(positionEmbeddings, blockPositionEmbeddings) }),
      blocks: layers,
      finalNorm: finalLayernorm,
      // GLM always reads its logits off the token embedding.
      head: new OutputHead(hidden, vocab, { tiedTo: wordEmbeddings }),
      config: { vocabSize: vocab, maxPositions },
    };
  },
});

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
