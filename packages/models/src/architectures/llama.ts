import { Attention, Embedding, GatedMLP, Linear, RMSNorm, RotaryEmbedding, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { requireDefaultRope, ropeTheta } from "../config.js";

/**
 * LLaMA: RMSNorm pre-norm blocks, SwiGLU MLP, rotary (rotate_half) on whole heads, grouped-query
 * attention (num_key_value_heads kv heads shared by groups of query heads), no biases by default.
 */
export const llama = defineArchitecture({
  modelType: "llama",
  className: "LlamaForCausalLM",
  keys: { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] },
  build(c) {
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    const kvHeads = c.int("num_key_value_heads", heads);
    c.divisible("num_attention_heads", heads, kvHeads, "num_key_value_heads");
    if (!c.has("head_dim")) c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = c.int("head_dim", hidden / heads);
    const inner = c.int("intermediate_size");
    const eps = c.number("rms_norm_eps", 1e-6);
    const activation = c.activation("hidden_act", "silu");
    const vocab = c.int("vocab_size");
    const attentionBias = { bias: c.bool("attention_bias", false) };
    const mlpBias = { bias: c.bool("mlp_bias", false) };
    requireDefaultRope(c);
    const rotary = new RotaryEmbedding(headDim, { theta: ropeTheta(c), style: "half" });

    const embedTokens = new Embedding(vocab, hidden);
    const layers = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const selfAttn = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, heads * headDim, attentionBias),
          k: new Linear(hidden, kvHeads * headDim, attentionBias),
          v: new Linear(hidden, kvHeads * headDim, attentionBias),
        },
        output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, attentionBias) },
        position: rotary,
      });
      const mlp = new GatedMLP(
        { gate: "gate_proj", up: "up_proj", down: "down_proj" },
        { gate: new Linear(hidden, inner, mlpBias), up: new Linear(hidden, inner, mlpBias), down: new Linear(inner, hidden, mlpBias) },
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
