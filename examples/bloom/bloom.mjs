// BLOOM, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> LayerNorm -> n_layer x [ x + attention(LN(x)) with ALiBi biases,
//   then h + MLP(LN(h)) with tanh GELU ] -> LayerNorm -> the token embedding again (tied head)
import {
  AlibiBias,
  Attention,
  Embedding,
  LayerNorm,
  Linear,
  MLP,
  OutputHead,
  TokenEmbedder,
  TransformerBlock,
  TransformerLanguageModel,
} from "@llm/layers";

export function bloom({ hidden_size: hidden, n_head: heads, n_layer: layers, vocab_size: vocab, layer_norm_epsilon: eps }) {
  const alibi = new AlibiBias(heads); // slopes for any head count, powers of two or not
  const ln = () => new LayerNorm(hidden, { eps });

  const wordEmbeddings = new Embedding(vocab, hidden);
  const embeddingNorm = ln();
  const h = Array.from({ length: layers }, () => {
    const selfAttention = new Attention({
      heads,
      headDim: hidden / heads,
      // query_key_value's rows are per head: [heads, (q, k, v), headDim].
      projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "grouped" },
      output: { name: "dense", linear: new Linear(hidden, hidden) },
      position: alibi,
    });
    const mlp = new MLP(
      { up: "dense_h_to_4h", down: "dense_4h_to_h" },
      new Linear(hidden, 4 * hidden),
      new Linear(4 * hidden, hidden),
      "gelu_tanh",
    );
    return new TransformerBlock(
      {
        norm1: ["input_layernorm", ln()],
        attention: ["self_attention", selfAttention],
        norm2: ["post_attention_layernorm", ln()],
        mlp: ["mlp", mlp],
      },
      "pre-ln",
    );
  });
  const lnF = ln();
  // Tied: the head reads the embedding's weight, so the file stores it once.
  const lmHead = new OutputHead(hidden, vocab, { tiedTo: wordEmbeddings });
  return new TransformerLanguageModel({
    modules: { transformer: { word_embeddings: wordEmbeddings, word_embeddings_layernorm: embeddingNorm, h, ln_f: lnF }, lm_head: lmHead },
    embed: new TokenEmbedder({ tokens: wordEmbeddings, norm: embeddingNorm }),
    blocks: h,
    finalNorm: lnF,
    head: lmHead,
    config: { vocabSize: vocab, maxPositions: Infinity },
  });
}
