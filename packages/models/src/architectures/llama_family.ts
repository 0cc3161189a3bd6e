import { Attention, Embedding, GatedMLP, Linear, RMSNorm, TokenEmbedder, TransformerBlock } from "@llm/layers";
import { type ArchitectureParts, outputHead } from "../architecture.js";
import type { ConfigReader } from "../config.js";
import { headCounts, layerWindows } from "../attention_config.js";
import { rotaryFromConfig } from "../rope.js";

/** Where the LLaMA-style families differ; everything else about their blocks is the same. */
export interface LlamaFamilyOptions {
  /** max_position_embeddings when config.json leaves it out (the family's transformers default). */
  maxPositions: number;
  /** head_dim when config.json leaves it out (else hidden / heads). */
  headDimDefault?: number;
  /** Biases on q_proj, k_proj, v_proj, and on o_proj. */
  qkvBias: boolean;
  outputBias: boolean;
  mlpBias?: boolean;
  /** Which layers attend through a sliding window, by the family's rule (see layerWindows); default: none. */
  slidingWindow?: { rule: "every-layer" | "qwen"; windowDefault: number | null };
  /** Qwen3: an RMSNorm over each head's queries and keys before rotary (q_norm, k_norm). */
  headNorms?: boolean;
}

/** The checkpoint key rules every LLaMA-style family shares. */
export const LLAMA_KEYS = { prefix: "model.", drop: [/rotary_emb\.inv_freq$/] };

/**
 * LLaMA's parts (RMSNorm pre-norm blocks, SwiGLU MLP, rotary, grouped-query attention), named as
 * its checkpoints name them, with the few choices its descendants change (biases, sliding
 * windows, per-head norms, defaults).
 */
export function llamaFamily(c: ConfigReader, o: LlamaFamilyOptions): ArchitectureParts {
  const { hidden, heads, kvHeads, headDim } = headCounts(c, o.headDimDefault);
  const inner = c.int("intermediate_size");
  const eps = c.float("rms_norm_eps", 1e-6);
  const activation = c.activation("hidden_act", "silu");
  const vocab = c.int("vocab_size");
  const rotary = rotaryFromConfig(c, headDim, { maxPositions: o.maxPositions });
  const count = c.int("num_hidden_layers");
  const windows = o.slidingWindow
    ? layerWindows(c, count, o.slidingWindow.rule, o.slidingWindow.windowDefault)
    : Array.from({ length: count }, () => null);
  const [qkvBias, outputBias, mlpBias] = [{ bias: o.qkvBias }, { bias: o.outputBias }, { bias: o.mlpBias ?? false }];
  const norm = (size = hidden) => new RMSNorm(size, { eps });

  const embedTokens = new Embedding(vocab, hidden);
  const layers = windows.map((slidingWindow) => {
    const selfAttn = new Attention({
      heads,
      kvHeads,
      headDim,
      projection: {
        kind: "separate",
        names: { q: "q_proj", k: "k_proj", v: "v_proj" },
        q: new Linear(hidden, heads * headDim, qkvBias),
        k: new Linear(hidden, kvHeads * headDim, qkvBias),
        v: new Linear(hidden, kvHeads * headDim, qkvBias),
      },
      output: { name: "o_proj", linear: new Linear(heads * headDim, hidden, outputBias) },
      ...(o.headNorms ? { headNorms: { query: ["q_norm", norm(headDim)], key: ["k_norm", norm(headDim)] } as const } : {}),
      position: rotary,
      slidingWindow,
    });
    const mlp = new GatedMLP(
      { gate: "gate_proj", up: "up_proj", down: "down_proj" },
      { gate: new Linear(hidden, inner, mlpBias), up: new Linear(hidden, inner, mlpBias), down: new Linear(inner, hidden, mlpBias) },
      activation,
    );
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
  const finalNorm = norm();
  const lmHead = outputHead(c, embedTokens, { tiedByDefault: false });
  return {
    modules: { model: { embed_tokens: embedTokens, layers, norm: finalNorm }, lm_head: lmHead },
    embed: new TokenEmbedder({ tokens: embedTokens }),
    blocks: layers,
    finalNorm,
    head: lmHead,
    config: { vocabSize: vocab, maxPositions: Infinity },
  };
}
