import { Attention, Embedding, LayerNorm, Linear, MLP, RotaryEmbedding, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";

/**
 * GPT-J: rotary positions on the first rotary_dim dims of each head in interleaved pairs,
 * attention and MLP in parallel off one LayerNorm, separate bias-free q/k/v, an untied head with bias.
 */
export const gptj = defineArchitecture({
  modelType: "gptj",
  className: "GPTJForCausalLM",
  keys: { prefix: "transformer.", drop: [/\.attn\.(bias|masked_bias)$/, /embed_positions$/] },
  build(c) {
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
    const noBias = { bias: false };

    const wte = new Embedding(vocab, hidden);
    const h = Array.from({ length: c.int("n_layer") }, () => {
      const attn = new Attention({
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
      return new TransformerBlock(
        { norm1: ["ln_1", new LayerNorm(hidden, { eps })], attention: ["attn", attn], mlp: ["mlp", mlp] },
        "parallel",
      );
    });
    const lnF = new LayerNorm(hidden, { eps });
    const lmHead = outputHead(c, wte, { tiedByDefault: false, bias: true });
    return {
      modules: { transformer: { wte, h, ln_f: lnF }, lm_head: lmHead },
      embed: new TokenEmbedder({ tokens: wte }),
      blocks: h,
      finalNorm: lnF,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
