import { Attention, Embedding, LayerNorm, LearnedPositions, Linear, MLP, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";

/**
 * GPT-2: learned positions, pre-LN blocks, GELU (tanh) MLP, fused q|k|v. Its Conv1D layers store
 * weights as [in, out], so Linear keeps that layout and the file's tensors load untransposed.
 * The output head is the token embedding (tied) unless tie_word_embeddings is false.
 */
export const gpt2 = defineArchitecture({
  modelType: "gpt2",
  className: "GPT2LMHeadModel",
  // Original OpenAI files name tensors without "transformer." and carry causal-mask buffers.
  keys: { prefix: "transformer.", drop: [/\.attn\.(bias|masked_bias)$/] },
  build(c) {
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

    const wte = new Embedding(vocab, hidden);
    const wpe = new Embedding(maxPositions, hidden);
    const h = Array.from({ length: c.int("n_layer") }, (_, layer) => {
      const attn = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "c_attn", linear: new Linear(hidden, 3 * hidden, conv), layout: "blocks" },
        output: { name: "c_proj", linear: new Linear(hidden, hidden, conv) },
        scale: (scaleWeights ? 1 / Math.sqrt(headDim) : 1) / (byLayer ? layer + 1 : 1),
      });
      const mlp = new MLP({ up: "c_fc", down: "c_proj" }, new Linear(hidden, inner, conv), new Linear(inner, hidden, conv), activation);
      const ln = () => new LayerNorm(hidden, { eps });
      return new TransformerBlock({ norm1: ["ln_1", ln()], attention: ["attn", attn], norm2: ["ln_2", ln()], mlp: ["mlp", mlp] }, "pre-ln");
    });
    const lnF = new LayerNorm(hidden, { eps });
    const lmHead = outputHead(c, wte, { tiedByDefault: true });
    return {
      modules: { transformer: { wte, wpe, h, ln_f: lnF }, lm_head: lmHead },
      embed: new TokenEmbedder({ tokens: wte, positions: new LearnedPositions(wpe) }),
      blocks: h,
      finalNorm: lnF,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions },
    };
  },
});
