// GPT-J, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> n_layer x [ LayerNorm -> (attention with interleaved rotary on the first
//   rotary_dim dims of each head) + (MLP fc_in -> gelu_new -> fc_out), both added to the input ]
//   -> LayerNorm -> lm_head (own weight and bias)
import {
  Attention,
  Embedding,
  LayerNorm,
  Linear,
  MLP,
  OutputHead,
  RotaryEmbedding,
  TokenEmbedder,
  TransformerBlock,
  TransformerLanguageModel,
} from "@llm/layers";

export function gptj({
  n_embd: hidden,
  n_head: heads,
  n_layer: layers,
  vocab_size: vocab,
  rotary_dim: rotaryDim,
  layer_norm_epsilon: eps,
  n_inner,
}) {
  const headDim = hidden / heads;
  const inner = n_inner ?? 4 * hidden;
  const rotary = new RotaryEmbedding(headDim, { rotaryDim, style: "interleaved" }); // parameter-free: one for all layers
  const linear = (from, to, bias = false) => new Linear(from, to, { bias });

  const wte = new Embedding(vocab, hidden);
  const h = Array.from({ length: layers }, () => {
    const attn = new Attention({
      heads,
      headDim,
      projection: {
        kind: "separate",
        names: { q: "q_proj", k: "k_proj", v: "v_proj" },
        q: linear(hidden, hidden),
        k: linear(hidden, hidden),
        v: linear(hidden, hidden),
      },
      output: { name: "out_proj", linear: linear(hidden, hidden) },
      position: rotary,
    });
    const mlp = new MLP({ up: "fc_in", down: "fc_out" }, linear(hidden, inner, true), linear(inner, hidden, true), "gelu_tanh");
    // One norm feeds both branches: the "parallel" residual.
    return new TransformerBlock(
      { norm1: ["ln_1", new LayerNorm(hidden, { eps })], attention: ["attn", attn], mlp: ["mlp", mlp] },
      "parallel",
    );
  });
  const lnF = new LayerNorm(hidden, { eps });
  const lmHead = new OutputHead(hidden, vocab, { bias: true });
  return new TransformerLanguageModel({
    // Module names follow the checkpoint, so its tensors load by name.
    modules: { transformer: { wte, h, ln_f: lnF }, lm_head: lmHead },
    embed: new TokenEmbedder({ tokens: wte }),
    blocks: h,
    finalNorm: lnF,
    head: lmHead,
    config: { vocabSize: vocab, maxPositions: Infinity },
  });
}
