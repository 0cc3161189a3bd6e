import { Attention, Embedding, LayerNorm, LearnedPositions, Linear, MLP, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";

/**
 * OPT: learned positions read 2 rows into their table, ReLU MLPs, separate q/k/v with biases;
 * pre-LN blocks, or post-LN ones without a final norm (do_layer_norm_before=false, OPT-350m).
 * When word_embed_proj_dim differs from hidden_size, embeddings are projected in and out, and the
 * tied head works at the embedding width.
 */
export const opt = defineArchitecture({
  modelType: "opt",
  className: "OPTForCausalLM",
  keys: { prefix: "model." },
  build(c) {
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

    const embedTokens = new Embedding(vocab, embedDim);
    const embedPositions = new Embedding(maxPositions + 2, hidden);
    const projected = embedDim !== hidden;
    const projectIn = projected ? new Linear(embedDim, hidden, { bias: false }) : null;
    const projectOut = projected ? new Linear(hidden, embedDim, { bias: false }) : null;
    const layers = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const linear = () => new Linear(hidden, hidden, { bias });
      const selfAttn = new Attention({
        heads,
        headDim,
        projection: { kind: "separate", names: { q: "q_proj", k: "k_proj", v: "v_proj" }, q: linear(), k: linear(), v: linear() },
        output: { name: "out_proj", linear: linear() },
      });
      // OPT's layers hold fc1/fc2 directly rather than under an "mlp" module (the "" name).
      const mlp = new MLP({ up: "fc1", down: "fc2" }, new Linear(hidden, inner, { bias }), new Linear(inner, hidden, { bias }), activation);
      return new TransformerBlock(
        {
          norm1: ["self_attn_layer_norm", norm()],
          attention: ["self_attn", selfAttn],
          norm2: ["final_layer_norm", norm()],
          mlp: ["", mlp],
        },
        preLN ? "pre-ln" : "post-ln",
      );
    });
    const finalNorm = preLN && !c.bool("_remove_final_layer_norm", false) ? norm() : null;
    const lmHead = outputHead(c, embedTokens, { tiedByDefault: true, project: projectOut });
    return {
      modules: {
        model: {
          decoder: {
            embed_tokens: embedTokens,
            embed_positions: embedPositions,
            layers,
            final_layer_norm: finalNorm,
            project_in: projectIn,
            project_out: projectOut,
          },
        },
        lm_head: lmHead,
      },
      embed: new TokenEmbedder({ tokens: embedTokens, project: projectIn, positions: new LearnedPositions(embedPositions, { offset: 2 }) }),
      blocks: layers,
      finalNorm,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions },
    };
  },
});
