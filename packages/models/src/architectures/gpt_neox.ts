import { Attention, Embedding, LayerNorm, Linear, MLP, RotaryEmbedding, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { ropeTheta } from "../config.js";
import { ropeParameters, ropeScalingFromConfig } from "../rope.js";

/**
 * GPT-NeoX / Pythia: rotary on a fraction of each head (rotate_half; any rope scaling transformers
 * takes: linear, dynamic, yarn, llama3, longrope), a fused q/k/v laid out per head
 * ([heads, 3, headDim] = "grouped" with one query head per group), and either the parallel
 * residual with two LayerNorms or sequential pre-LN blocks.
 */
export const gptNeox = defineArchitecture({
  modelType: "gpt_neox",
  className: "GPTNeoXForCausalLM",
  keys: {
    prefix: "gpt_neox.",
    drop: [/\.attention\.(bias|masked_bias)$/, /rotary_emb\.inv_freq$/],
    // transformers 5 writes the head under its in-memory name; we keep the saved name.
    renames: { "lm_head.weight": "embed_out.weight" },
  },
  build(c) {
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const inner = c.int("intermediate_size", 4 * hidden);
    const eps = c.number("layer_norm_eps", 1e-5);
    const activation = c.activation("hidden_act", "gelu");
    const vocab = c.int("vocab_size");
    const bias = c.bool("attention_bias", true);
    const rope = ropeParameters(c);
    // the range (0, 1] is checked by the reader, under whichever key holds the fraction
    const [fractionFrom, fractionKey] = rope.has("partial_rotary_factor") ? [rope, "partial_rotary_factor"] : [c, "rotary_pct"];
    const fraction = fractionFrom.number(fractionKey, 0.25);
    const rotaryDim = Math.floor(headDim * fraction);
    fractionFrom.require(
      fractionKey,
      rotaryDim >= 2 && rotaryDim % 2 === 0,
      `a fraction giving an even number >= 2 of the ${headDim} head dims`,
    );
    const theta = rope.has("rope_theta") ? rope.number("rope_theta") : ropeTheta(c);
    const scaling = ropeScalingFromConfig(c, rotaryDim, { maxPositions: 2048 });
    const rotary = new RotaryEmbedding(headDim, { rotaryDim, theta, style: "half", scaling });
    const parallel = c.bool("use_parallel_residual", true);

    const embedIn = new Embedding(vocab, hidden);
    const layers = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden, { bias }), layout: "grouped" },
        output: { name: "dense", linear: new Linear(hidden, hidden, { bias }) },
        position: rotary,
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, inner), new Linear(inner, hidden), activation);
      const ln = () => new LayerNorm(hidden, { eps });
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", ln()],
          attention: ["attention", attention],
          norm2: ["post_attention_layernorm", ln()],
          mlp: ["mlp", mlp],
        },
        parallel ? "parallel-two-norms" : "pre-ln",
      );
    });
    const finalNorm = new LayerNorm(hidden, { eps });
    const embedOut = outputHead(c, embedIn, { tiedByDefault: false });
    return {
      modules: { gpt_neox: { embed_in: embedIn, layers, final_layer_norm: finalNorm }, embed_out: embedOut },
      embed: new TokenEmbedder({ tokens: embedIn }),
      blocks: layers,
      finalNorm,
      head: embedOut,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
