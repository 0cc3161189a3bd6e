import { Attention, Embedding, GatedMLP, Linear, RMSNorm, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { headCounts } from "../attention_config.js";
import { rotaryFromConfig } from "../rope.js";

/**
 * LLaMA (1, 2, 3.x, SmolLM, ...): RMSNorm pre-norm blocks, SwiGLU MLP, rotary (rotate_half) on
 * whole heads with any rope scaling (Llama 3.1's "llama3", linear, dynamic, yarn, longrope),
 * grouped-query attention (num_key_value_heads kv heads shared by groups of query heads), an
 * explicit head_dim if given, no biases by default.
 */
export const llama = defineArchitecture({
  modelType: "llama",
  className: "LlamaForCausalLM",
  keys: { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] },
  build(c) {
    const { hidden, heads, kvHeads, headDim } = headCounts(c);
    const inner = c.int("intermediate_size");
    const eps = c.float("rms_norm_eps", 1e-6);
    const activation = c.activation("hidden_act", "silu");
    const vocab = c.int("vocab_size");
    const attentionBias = { bias: c.bool("attention_bias", false) };
    const mlpBias = { bias: c.bool("mlp_bias", false) };
    const rotary = rotaryFromConfig(c, headDim, { maxPositions: 2048 });

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
