import { Attention, Embedding, GatedMLP, Linear, RMSNorm, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { headCounts, layerWindows } from "../attention_config.js";
import { rotaryFromConfig } from "../rope.js";

/**
 * Gemma 2: token embeddings scaled by sqrt(width); RMSNorms with a (1 + w) gain before and after
 * each sublayer; GeGLU (tanh GELU); queries scaled by 1 / sqrt(query_pre_attn_scalar); attention
 * and final logits soft-capped; sliding-window and full layers alternating (`layer_types`); a tied head.
 */
export const gemma2 = defineArchitecture({
  modelType: "gemma2",
  className: "Gemma2ForCausalLM",
  keys: { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] },
  build(c) {
    const { hidden, heads, kvHeads, headDim } = headCounts(c, 256);
    const inner = c.int("intermediate_size");
    const eps = c.float("rms_norm_eps", 1e-6);
    const activation = c.activation("hidden_activation", "gelu_pytorch_tanh");
    const vocab = c.int("vocab_size");
    const bias = { bias: c.bool("attention_bias", false) };
    const noBias = { bias: false };
    const queryScalar = c.int("query_pre_attn_scalar", 256);
    const softcap = (key: string, fallback: number): number | null => {
      if (c.raw[key] === null) return null;
      const cap = c.float(key, fallback);
      c.require(key, cap > 0, "a positive number or null");
      return cap;
    };
    const attentionSoftcap = softcap("attn_logit_softcapping", 50);
    const finalSoftcap = softcap("final_logit_softcapping", 30);
    c.require("use_bidirectional_attention", !c.bool("use_bidirectional_attention", false), "false or null (causal attention)");
    const rotary = rotaryFromConfig(c, headDim, { maxPositions: 8192 });
    const windows = layerWindows(c, c.int("num_hidden_layers"), "gemma2", 4096);
    // Gemma's norms store w and scale by (1 + w)
    const norm = (dim = hidden) => new RMSNorm(dim, { eps, weightOffset: 1 });

    const embedTokens = new Embedding(vocab, hidden);
    const layers = windows.map((slidingWindow) => {
      const selfAttn = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, heads * headDim, bias),
          k: new Linear(hidden, kvHeads * headDim, bias),
          v: new Linear(hidden, kvHeads * headDim, bias),
        },
        output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, bias) },
        position: rotary,
        scale: 1 / Math.sqrt(queryScalar),
        softcap: attentionSoftcap,
        slidingWindow,
      });
      const mlp = new GatedMLP(
        { gate: "gate_proj", up: "up_proj", down: "down_proj" },
        { gate: new Linear(hidden, inner, noBias), up: new Linear(hidden, inner, noBias), down: new Linear(inner, hidden, noBias) },
        activation,
      );
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", norm()],
          attention: ["self_attn", selfAttn],
          attentionOutputNorm: ["post_attention_layernorm", norm()],
          norm2: ["pre_feedforward_layernorm", norm()],
          mlp: ["mlp", mlp],
          mlpOutputNorm: ["post_feedforward_layernorm", norm()],
        },
        "sandwich",
      );
    });
    const finalNorm = norm();
    const lmHead = outputHead(c, embedTokens, { tiedByDefault: true, softcap: finalSoftcap });
    return {
      modules: { model: { embed_tokens: embedTokens, layers, norm: finalNorm }, lm_head: lmHead },
      // transformers multiplies by sqrt(hidden) cast to the weights' dtype
      embed: new TokenEmbedder({ tokens: embedTokens, scale: Math.fround(Math.sqrt(hidden)) }),
      blocks: layers,
      finalNorm,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
