// GPT-J, assembled here from @llm/layers parts (no @llm/models), loaded from the fixture's
// model.safetensors as Hugging Face saved it, and compared with the reference logits and tokens.
//
//   token embedding -> n_layer x [ LayerNorm -> (attention with interleaved rotary on the first
//   rotary_dim dims of each head) + (MLP fc_in -> gelu_new -> fc_out), both added to the input ]
//   -> LayerNorm -> lm_head (own weight and bias)
import {
  Attention, Embedding, LayerNorm, Linear, MLP, ModuleDict, ModuleList, OutputHead, RotaryEmbedding,
  TransformerBlock, TransformerLanguageModel,
} from "@llm/layers";
import { compareWithReference, readFixture } from "@llm/example-fixture-compare";

class GPTJ extends TransformerLanguageModel {
  constructor(config) {
    super();
    const { n_embd: hidden, n_head: heads, n_layer: layers, vocab_size: vocab, rotary_dim: rotaryDim } = config;
    const headDim = hidden / heads;
    const inner = config.n_inner ?? 4 * hidden;
    const eps = config.layer_norm_epsilon;
    // Parameter-free, so every layer can share one.
    const rotary = new RotaryEmbedding(headDim, { rotaryDim, style: "interleaved" });
    const noBias = { bias: false };

    this.wte = new Embedding(vocab, hidden);
    this.blocks = Array.from({ length: layers }, () => {
      const attention = new Attention({
        heads,
        headDim,
        projection: {
          kind: "separate",
          names: { q: "q_proj", k: "k_proj", v: "v_proj" },
          q: new Linear(hidden, hidden, noBias),
          k: new Linear(hidden, hidden, noBias),
          v: new Linear(hidden, hidden, noBias),
        },
        output: { name: "out_proj", linear: new Linear(hidden, hidden, noBias) },
        position: rotary,
      });
      const mlp = new MLP({ up: "fc_in", down: "fc_out" }, new Linear(hidden, inner), new Linear(inner, hidden), "gelu_tanh");
      // One norm feeds both branches: the "parallel" residual.
      return new TransformerBlock({ norm1: ["ln_1", new LayerNorm(hidden, { eps })], attention: ["attn", attention], mlp: ["mlp", mlp] }, "parallel");
    });
    this.lnF = new LayerNorm(hidden, { eps });
    // Module names follow the checkpoint, so its tensors load by name.
    this.addModule("transformer", new ModuleDict({ wte: this.wte, h: new ModuleList(this.blocks), ln_f: this.lnF }));
    this.lmHead = this.addModule("lm_head", new OutputHead(hidden, vocab, { bias: true }));
    this.config = { vocabSize: vocab, maxPositions: Infinity };
    this.raw = config;
  }
  embed(ids) {
    return this.wte.forward(ids);
  }
  head(hidden) {
    return this.lmHead.forward(this.lnF.forward(hidden));
  }
  checkpointConfig() {
    return this.raw;
  }
}

const { config, weights, reference } = await readFixture("gptj");
const model = new GPTJ(config);
model.loadStateDict(weights, { source: "fixtures/models/gptj/model.safetensors" });
console.log(`GPT-J from @llm/layers: ${model.parameters().length} tensors, ${model.parameters().reduce((n, p) => n + p.size, 0)} parameters`);
compareWithReference(model.eval(), reference);
