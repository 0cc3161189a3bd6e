import {
  AlibiBias,
  Attention,
  Embedding,
  LayerNorm,
  Linear,
  MLP,
  RotaryEmbedding,
  TokenEmbedder,
  TransformerBlock,
  type BlockParts,
  type FusedLayout,
  type ResidualLayout,
} from "@llm/layers";
import { defineArchitecture, outputHead } from "../architecture.js";
import { ropeTheta } from "../config.js";
import { ropeParameters, ropeScalingFromConfig } from "../rope.js";

/**
 * Falcon: rotary (with any rope scaling transformers takes) or ALiBi positions, one fused q/k/v in one of three layouts (multi-query:
 * all query heads then one k and one v; new_decoder_architecture: per kv group, its query heads
 * then k and v; otherwise per head), attention and MLP in parallel off one norm (or two, ln_attn
 * and ln_mlp), optional biases, and a tied head.
 */
export const falcon = defineArchitecture({
  modelType: "falcon",
  aliases: ["RefinedWeb", "RefinedWebModel"],
  className: "FalconForCausalLM",
  // RefinedWeb-era configs spell the sizes n_head, n_layer, n_head_kv.
  configAliases: { n_head: "num_attention_heads", n_layer: "num_hidden_layers", n_head_kv: "num_kv_heads" },
  keys: { prefix: "transformer." },
  build(c) {
    const hidden = c.int("hidden_size");
    const heads = c.int("num_attention_heads");
    c.divisible("hidden_size", hidden, heads, "num_attention_heads");
    const headDim = hidden / heads;
    const inner = c.int("ffn_hidden_size", 4 * hidden);
    const eps = c.number("layer_norm_epsilon", 1e-5);
    const vocab = c.int("vocab_size");
    const bias = c.bool("bias", false);
    const activation = c.activation("activation", "gelu");
    const newArchitecture = c.bool("new_decoder_architecture", false);
    const multiQuery = c.bool("multi_query", true);
    const parallel = c.bool("parallel_attn", true);
    const norms = c.has("num_ln_in_parallel_attn") ? c.int("num_ln_in_parallel_attn") : newArchitecture ? 2 : 1;
    c.require("num_ln_in_parallel_attn", norms === 1 || norms === 2, "1 or 2");
    c.require("num_ln_in_parallel_attn", !(parallel && !newArchitecture && norms === 2), "1 or null unless new_decoder_architecture");
    c.require("parallel_attn", parallel || !newArchitecture, "true when new_decoder_architecture is true");

    let kvHeads: number;
    let layout: FusedLayout;
    if (newArchitecture) {
      kvHeads = c.int("num_kv_heads", heads);
      c.divisible("num_attention_heads", heads, kvHeads, "num_kv_heads");
      layout = "grouped";
    } else if (multiQuery) {
      [kvHeads, layout] = [1, "blocks"];
    } else {
      [kvHeads, layout] = [heads, "grouped"];
    }
    let position: RotaryEmbedding | AlibiBias;
    if (c.bool("alibi", false)) {
      // Falcon adds ALiBi before scaling the scores by 1/sqrt(headDim).
      position = new AlibiBias(heads, { scale: 1 / Math.sqrt(headDim) });
    } else {
      const rope = ropeParameters(c);
      const theta = rope.has("rope_theta") ? rope.number("rope_theta") : ropeTheta(c);
      position = new RotaryEmbedding(headDim, { theta, style: "half", scaling: ropeScalingFromConfig(c, headDim, { maxPositions: 2048 }) });
    }
    const ln = () => new LayerNorm(hidden, { eps });

    const wordEmbeddings = new Embedding(vocab, hidden);
    const h = Array.from({ length: c.int("num_hidden_layers") }, () => {
      const selfAttention = new Attention({
        heads,
        kvHeads,
        headDim,
        projection: {
          kind: "fused",
          name: "query_key_value",
          linear: new Linear(hidden, (heads + 2 * kvHeads) * headDim, { bias }),
          layout,
        },
        output: { name: "dense", linear: new Linear(hidden, hidden, { bias }) },
        position,
      });
      const mlp = new MLP(
        { up: "dense_h_to_4h", down: "dense_4h_to_h" },
        new Linear(hidden, inner, { bias }),
        new Linear(inner, hidden, { bias }),
        activation,
      );
      const attention: BlockParts["attention"] = ["self_attention", selfAttention];
      let parts: BlockParts;
      let residual: ResidualLayout;
      if (!parallel) {
        [parts, residual] = [
          { norm1: ["input_layernorm", ln()], attention, norm2: ["post_attention_layernorm", ln()], mlp: ["mlp", mlp] },
          "pre-ln",
        ];
      } else if (norms === 2) {
        [parts, residual] = [{ norm1: ["ln_attn", ln()], attention, norm2: ["ln_mlp", ln()], mlp: ["mlp", mlp] }, "parallel-two-norms"];
      } else {
        [parts, residual] = [{ norm1: ["input_layernorm", ln()], attention, mlp: ["mlp", mlp] }, "parallel"];
      }
      return new TransformerBlock(parts, residual);
    });
    const lnF = ln();
    const lmHead = outputHead(c, wordEmbeddings, { tiedByDefault: true });
    return {
      modules: { transformer: { word_embeddings: wordEmbeddings, h, ln_f: lnF }, lm_head: lmHead },
      embed: new TokenEmbedder({ tokens: wordEmbeddings }),
      blocks: h,
      finalNorm: lnF,
      head: lmHead,
      config: { vocabSize: vocab, maxPositions: Infinity },
    };
  },
});
