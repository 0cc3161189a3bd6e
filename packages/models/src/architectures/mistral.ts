import { Attention, Embedding, GatedMLP, Linear, RMSNorm, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { headCounts, layerWindows } from "../attention_config.js";
import { rotaryFromConfig } from "../rope.js";

/**
 * Mistral: LLaMA's blocks (RMSNorm, SwiGLU, rotary, grouped-query attention, no biases) with a
 * sliding window of `sliding_window` positions on every layer (none when it is null, as from
 * v0.2 on); the cache keeps only the window.
 */
export const mistral = defineArchitecture({
  modelType: "mistral",
  className: "MistralForCausalLM",
  keys: { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] },
  build(c) {
    const { hidden, heads, kvHeads, headDim } = headCounts(c);
    const inner = c.int("intermediate_size");
    const eps = c.float("rms_norm_eps", 1e-6);
    const activation = c.activation("hidden_act", "silu");
    const vocab = c.int("vocab_size");
    const rotary = rotaryFromConfig(c, headDim, { maxPositions: 4096 * 32 });
    const count = c.int("num_hidden_layers");
    const windows = layerWindows(c, count, "every-layer", 4096);
    const noBias = { bias: false };

    const embedTokens = new Embedding(vocab, hidden);
    const layers = windows.map((slidingWindow) => {
      const selfAttn = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, heads * headDim, noBias),
          k: new Linear(hidden, kvHeads * headDim, noBias),
          v: new Linear(hidden, kvHeads * headDim, noBias),
        },
        output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, noBias) },
        position: rotary,
        slidingWindow,
      });
      const mlp = new GatedMLP(
        { gate: "gate_proj", up: "up_proj", down: "down_proj" },
        { gate: new Linear(hidden, inner, noBias), up: new Linear(hidden, inner, noBias), down: new Linear(inner, hidden, noBias) },
        activation,
      );
      const norm = () => new RMSNorm(hidden, { eps });
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", norm()],
          attention: ["self_attn", selfAttn],
          norm2: ["post_attention_layernorm", norm()],
          mlp: ["mlp", mlp],
        },
        "pre-ln",
      );
    });
    const norm = new RMSNorm(hidden, { eps });
    const lmHead = outputHead(c, embedTokens, { tiedByDefault: false });
    return {
      modules: { model: { embed_tokens: embedTokens, layers, norm }, lm_head: lmHead },
      embed: new TokenEmbedder({ tokens: embedTokens }),
      blocks: layers,
      finalNorm: norm,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
