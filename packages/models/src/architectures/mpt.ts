import { AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";

/**
 * MPT: ALiBi with alibi_bias_max, a fused q|k|v (Wqkv), exact-GELU MLPs of expansion_ratio,
 * pre-LN blocks, LayerNorms and projections without biases when no_bias, and a tied head.
 */
export const mpt = defineArchitecture({
  modelType: "mpt",
  className: "MptForCausalLM",
  keys: { prefix: "transformer." },
  build(c) {
    const hidden = c.int("d_model");
    const heads = c.int("n_heads");
    c.divisible("d_model", hidden, heads, "n_heads");
    const headDim = hidden / heads;
    const inner = c.int("expansion_ratio", 4) * hidden;
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const bias = !c.bool("no_bias", true);
    const normType = c.string("norm_type", "low_precision_layernorm");
    c.require("norm_type", normType === "low_precision_layernorm" || normType === "layernorm", `"layernorm" or "low_precision_layernorm"`);
    const attn = c.object("attn_config");
    attn.require("alibi", attn.bool("alibi", true), "true (MPT without ALiBi is not supported)");
    attn.require("clip_qkv", !attn.has("clip_qkv"), "null (clip_qkv is not supported)");
    attn.require("qk_ln", !attn.bool("qk_ln", false), "false (qk_ln is not supported)");
    attn.require("prefix_lm", !attn.bool("prefix_lm", false), "false (prefix LM masks are not supported)");
    attn.require("attn_uses_sequence_id", !attn.bool("attn_uses_sequence_id", false), "false");
    const scale = attn.has("softmax_scale") ? attn.number("softmax_scale") : 1 / Math.sqrt(headDim);
    const alibi = new AlibiBias(heads, { maxBias: attn.number("alibi_bias_max", 8) });
    const norm = () => new LayerNorm(hidden, { eps, bias });

    const wte = new Embedding(vocab, hidden);
    const blocks = Array.from({ length: c.int("n_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "Wqkv", linear: new Linear(hidden, 3 * hidden, { bias }), layout: "blocks" },
        output: { name: "out_proj", linear: new Linear(hidden, hidden, { bias }) },
        position: alibi,
        scale,
      });
      const ffn = new MLP(
        { up: "up_proj", down: "down_proj" },
        new Linear(hidden, inner, { bias }),
        new Linear(inner, hidden, { bias }),
        "gelu",
      );
      return new TransformerBlock(
        { norm1: ["norm_1", norm()], attention: ["attn", attention], norm2: ["norm_2", norm()], mlp: ["ffn", ffn] },
        "pre-ln",
      );
    });
    const normF = norm();
    const lmHead = outputHead(c, wte, { tiedByDefault: true });
    return {
      modules: { transformer: { wte, blocks, norm_f: normF }, lm_head: lmHead },
      embed: new TokenEmbedder({ tokens: wte }),
      blocks,
      finalNorm: normF,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
