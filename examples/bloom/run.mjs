// BLOOM, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> LayerNorm -> n_layer x [ x + attention(LN(x)) with ALiBi biases,
//   then h + MLP(LN(h)) with tanh GELU ] -> LayerNorm -> the token embedding again (tied head)
import {
  AlibiBias, Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead,
  TransformerBlock, TransformerLanguageModel,
} from "@llm/layers";
import { compareWithReference, readFixture } from "@llm/example-fixture-compare";

class Bloom extends TransformerLanguageModel {
  constructor(config) {
    super();
    const { hidden_size: hidden, n_head: heads, n_layer: layers, vocab_size: vocab } = config;
    const eps = config.layer_norm_epsilon;
    const alibi = new AlibiBias(heads); // slopes for any head count, powers of two or not

    this.wordEmbeddings = new Embedding(vocab, hidden);
    this.embeddingNorm = new LayerNorm(hidden, { eps });
    this.blocks = Array.from({ length: layers }, () => {
      const attention = new Attention({
        heads,
        headDim: hidden / heads,
        // query_key_value's rows are per head: [heads, (q, k, v), headDim].
        projection: { kind: "fused", name: "query_key_value", linear: new Linear(hidden, 3 * hidden), layout: "grouped" },
        output: { name: "dense", linear: new Linear(hidden, hidden) },
        position: alibi,
      });
      const mlp = new MLP({ up: "dense_h_to_4h", down: "dense_4h_to_h" }, new Linear(hidden, 4 * hidden), new Linear(4 * hidden, hidden), "gelu_tanh");
      return new TransformerBlock(
        {
          norm1: ["input_layernorm", new LayerNorm(hidden, { eps })],
          attention: ["self_attention", attention],
          norm2: ["post_attention_layernorm", new LayerNorm(hidden, { eps })],
          mlp: ["mlp", mlp],
        },
        "pre-ln",
      );
    });
    this.lnF = new LayerNorm(hidden, { eps });
    this.addModule(
      "transformer",
      new ModuleDict({ word_embeddings: this.wordEmbeddings, word_embeddings_layernorm: this.embeddingNorm, h: new ModuleList(this.blocks), ln_f: this.lnF }),
    );
    // Tied: the head reads the embedding's weight, so the file stores it once.
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, { tiedTo: this.wordEmbeddings }));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
    this.raw = config;
  }
  embed(ids) {
    return this.embeddingNorm.forward(this.wordEmbeddings.forward(ids));
  }
  head(hidden) {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }
  checkpointConfig() {
    return this.raw;
  }
}

const { config, weights, reference } = await readFixture("bloom");
const model = new Bloom(config);
model.loadStateDict(weights, { source: "fixtures/models/bloom/model.safetensors" });
console.log(`BLOOM from @llm/layers: ${model.parameters().length} tensors, ${model.parameters().reduce((n, p) => n + p.size, 0)} parameters, ALiBi slopes ${new AlibiBias(config.n_head).slopes.join(", ")}`);
compareWithReference(model.eval(), reference);
