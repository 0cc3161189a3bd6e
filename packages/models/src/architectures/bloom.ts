import { AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";

/**
 * BLOOM: ALiBi instead of position embeddings (any head count), a LayerNorm right after the token
 * embedding, a fused q/k/v laid out per head, tanh-GELU MLPs, pre-LN blocks and a tied head.
 */
export const bloom = defineArchitecture({
  modelType: "bloom",
  className: "BloomForCausalLM",
  // bigscience/bloom-* files are saved from BloomModel: no "transformer." prefix.
  keys: { prefix: "transformer." },
  build(c) {
    const hidden = c.int("hidden_size", c.has("n_embed") ? c.int("n_embed") : undefined);
    const heads = c.int("n_head");
    c.divisible("hidden_size", hidden, heads, "n_head");
    const headDim = hidden / heads;
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const residualFromNorm = c.bool("apply_residual_connection_post_layernorm", false);
    const alibi = new AlibiBias(heads);
    const ln = () => new LayerNorm(hidden, { eps });

    const wordEmbeddings = new Embedding(vocab, hidden);
    const embeddingNorm = ln();
    const h = Array.from({ length: c.int("n_layer") }, () => {
      const selfAttention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "grouped" },
        output: { name: "dense", linear: new Linear(hidden, hidden) },
        position: alibi,
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
          attention: ["self_attention", selfAttention],
          norm2: ["post_attention_layernorm", ln()],
          mlp: ["mlp", mlp],
        },
        residualFromNorm ? "pre-ln-residual-from-norm" : "pre-ln",
      );
    });
    const lnF = ln();
    const lmHead = outputHead(c, wordEmbeddings, { tiedByDefault: true });
    return {
      modules: {
        transformer: { word_embeddings: wordEmbeddings, word_embeddings_layernorm: embeddingNorm, h, ln_f: lnF },
        lm_head: lmHead,
      },
      embed: new TokenEmbedder({ tokens: wordEmbeddings, norm: embeddingNorm }),
      blocks: h,
      finalNorm: lnF,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
