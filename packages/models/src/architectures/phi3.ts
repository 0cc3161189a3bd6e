import { Attention, Embedding, FusedGatedMLP, Linear, RMSNorm, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { headCounts, layerWindows } from "../attention_config.js";
import { rotaryFromConfig } from "../rope.js";

/**
 * Phi-3 / Phi-3.5 / Phi-4-mini: LLaMA's blocks with the projections fused as stored (qkv_proj:
 * all query heads, then key heads, then value heads; gate_up_proj: gate then up), rotary on a
 * `partial_rotary_factor` of each head, Phi-3's longrope scaling, and `sliding_window` on every layer.
 */
export const phi3 = defineArchitecture({
  modelType: "phi3",
  className: "Phi3ForCausalLM",
  keys: { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] },
  build(c) {
    const { hidden, heads, kvHeads, headDim } = headCounts(c);
    const inner = c.int("intermediate_size");
    const eps = c.float("rms_norm_eps", 1e-5);
    const activation = c.activation("hidden_act", "silu");
    const vocab = c.int("vocab_size");
    const rotary = rotaryFromConfig(c, headDim, { maxPositions: 4096, partial: true, topLevelOriginalMaxPositions: 4096 });
    const windows = layerWindows(c, c.int("num_hidden_layers"), "every-layer", null);
    const noBias = { bias: false };

    const embedTokens = new Embedding(vocab, hidden);
    const layers = windows.map((slidingWindow) => {
      const selfAttn = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "fused",
          name: "qkv_proj",
          linear: new Linear(hidden, (heads + 2 * kvHeads) * headDim, noBias),
          layout: "blocks",
        },
        output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, noBias) },
        position: rotary,
        slidingWindow,
      });
      const mlp = new FusedGatedMLP(
        { gateUp: "gate_up_proj", down: "down_proj" },
        { gateUp: new Linear(hidden, 2 * inner, noBias), down: new Linear(inner, hidden, noBias) },
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
