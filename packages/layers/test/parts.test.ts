import { describe, expect, it } from "vitest";
import { arange, noGrad, randn, Rng, rmsNorm, type Tensor } from "@llm/tensor";
import {
  Attention,
  buildAttentionMask,
  Embedding,
  FusedGatedMLP,
  GatedMLP,
  Linear,
  OutputHead,
  RMSNorm,
  TokenEmbedder,
  TransformerBlock,
  type AttentionContext,
} from "@llm/layers";
import { maxAbsDiff, values } from "./helpers.js";

// The parts the post-2023 families add, each against the formula it stands for.

const context = (length: number): AttentionContext => ({
  positionIds: arange(0, length).reshape(1, length),
  mask: buildAttentionMask(length, length),
});

function attention(options: Partial<ConstructorParameters<typeof Attention>[0]> = {}): Attention {
  const a = new Attention({
    heads: 2,
    kvHeads: 1,
    headDim: 4,
    projection: {
      kind: "separate",
      names: { q: "q_proj", k: "k_proj", v: "v_proj" },
      q: new Linear(8, 8),
      k: new Linear(8, 4),
      v: new Linear(8, 4),
    },
    output: { name: "o_proj", linear: new Linear(8, 8) },
    ...options,
  });
  a.initialize(new Rng(7), 0.6);
  return a;
}

describe("RMSNorm with a weight offset (Gemma's 1 + w)", () => {
  it("scales by offset + weight, and initializes to a gain of 1", () => {
    const norm = new RMSNorm(6, { eps: 1e-6, weightOffset: 1 });
    norm.initialize(new Rng(0), 0);
    expect(values(norm.weight)).toEqual(new Array(6).fill(0));
    norm.weight.assign(randn([6], { seed: 1 }));
    const x = randn([2, 3, 6], { seed: 2 });
    expect(maxAbsDiff(norm.forward(x), rmsNorm(x, norm.weight.add(1), 1e-6))).toBe(0);
    expect(maxAbsDiff(norm.forward(x), rmsNorm(x, norm.weight, 1e-6))).toBeGreaterThan(0.1);
  });
});

describe("Attention's per-head query and key norms (Qwen3)", () => {
  it("normalize each head's queries and keys before rotary, under their checkpoint names", () => {
    const [qNorm, kNorm] = [new RMSNorm(4), new RMSNorm(4)];
    const normed = attention({ headNorms: { query: ["q_norm", qNorm], key: ["k_norm", kNorm] } });
    qNorm.weight.assign(randn([4], { seed: 3 }));
    kNorm.weight.assign(randn([4], { seed: 4 }));
    expect(Object.keys(normed.stateDict())).toEqual(expect.arrayContaining(["q_norm.weight", "k_norm.weight"]));
    // the same projections with the norms folded in by hand: q/k heads normalized, then attention
    const x = randn([1, 5, 8], { seed: 5 });
    const p = normed.projection as Extract<typeof normed.projection, { kind: "separate" }>;
    const heads = (l: Linear, n: number) => l.forward(x).reshape(1, 5, n, 4);
    const q = qNorm.forward(heads(p.q, 2)).transpose(1, 2);
    const k = kNorm.forward(heads(p.k, 1)).transpose(1, 2);
    const v = heads(p.v, 1).transpose(1, 2);
    const scores = q.matmul(k.transpose(-1, -2)).mul(0.5).add(buildAttentionMask(5, 5)!.logicalNot().float().mul(-1e30));
    const mixed = scores.softmax(-1).matmul(v).transpose(1, 2).reshape(1, 5, 8);
    noGrad(() => expect(maxAbsDiff(normed.forward(x, context(5)), normed.output.forward(mixed))).toBeLessThan(1e-5));
  });
});

describe("Attention soft-capping and query scale (Gemma 2)", () => {
  it("caps the scaled scores: a small cap changes the output, a huge one does not", () => {
    const x = randn([1, 4, 8], { seed: 6 });
    noGrad(() => {
      const plain = attention({ scale: 0.3 }).forward(x, context(4));
      expect(maxAbsDiff(attention({ scale: 0.3, softcap: 1e6 }).forward(x, context(4)), plain)).toBeLessThan(1e-6);
      expect(maxAbsDiff(attention({ scale: 0.3, softcap: 0.2 }).forward(x, context(4)), plain)).toBeGreaterThan(1e-3);
      expect(maxAbsDiff(attention({ scale: 0.9 }).forward(x, context(4)), plain)).toBeGreaterThan(1e-3);
    });
    expect(() => attention({ softcap: -1 })).toThrow(/softcap must be a positive number or null, found -1/);
  });
});

describe('TransformerBlock "sandwich" (Gemma 2)', () => {
  it("norms before and after each sublayer: h = x + a(attn(n1(x))), out = h + m(mlp(n2(h)))", () => {
    const attn = attention();
    const mlp = new GatedMLP(
      { gate: "gate_proj", up: "up_proj", down: "down_proj" },
      { gate: new Linear(8, 12, { bias: false }), up: new Linear(8, 12, { bias: false }), down: new Linear(12, 8, { bias: false }) },
      "gelu_tanh",
    );
    mlp.initialize(new Rng(8), 0.4);
    const norms = [0, 1, 2, 3].map((i) => {
      const n = new RMSNorm(8, { weightOffset: 1 });
      n.weight.assign(randn([8], { seed: 10 + i }).mul(0.3));
      return n;
    });
    const [n1, a, n2, m] = norms as [RMSNorm, RMSNorm, RMSNorm, RMSNorm];
    const block = new TransformerBlock(
      {
        norm1: ["input_layernorm", n1],
        attention: ["self_attn", attn],
        attentionOutputNorm: ["post_attention_layernorm", a],
        norm2: ["pre_feedforward_layernorm", n2],
        mlp: ["mlp", mlp],
        mlpOutputNorm: ["post_feedforward_layernorm", m],
      },
      "sandwich",
    );
    const x = randn([1, 4, 8], { seed: 9 });
    noGrad(() => {
      const h = x.add(a.forward(attn.forward(n1.forward(x), context(4))));
      const expected = h.add(m.forward(mlp.forward(n2.forward(h))));
      expect(maxAbsDiff(block.forward(x, context(4)), expected)).toBe(0);
    });
    expect(Object.keys(block.stateDict())).toEqual(
      expect.arrayContaining(["post_attention_layernorm.weight", "pre_feedforward_layernorm.weight", "post_feedforward_layernorm.weight"]),
    );
    expect(
      () => new TransformerBlock({ norm1: ["n1", n1], attention: ["a", attn], norm2: ["n2", n2], mlp: ["m", mlp] }, "sandwich"),
    ).toThrow(/a "sandwich" block needs norm1, norm2 and both output norms, found 2/);
    expect(
      () =>
        new TransformerBlock(
          { norm1: ["n1", n1], attention: ["a", attn], norm2: ["n2", n2], mlp: ["m", mlp], mlpOutputNorm: ["mo", m] },
          "pre-ln",
        ),
    ).toThrow(/a "pre-ln" block needs norm1 and norm2, found 3/);
  });
});

describe("FusedGatedMLP (Phi-3's gate_up_proj)", () => {
  it("equals a GatedMLP whose gate and up are the fused matrix's halves", () => {
    const gateUp = new Linear(6, 10, { bias: false });
    const down = new Linear(5, 6, { bias: false });
    const fused = new FusedGatedMLP({ gateUp: "gate_up_proj", down: "down_proj" }, { gateUp, down });
    fused.initialize(new Rng(4), 0.5);
    const [gate, up] = [new Linear(6, 5, { bias: false }), new Linear(6, 5, { bias: false })];
    gate.weight.assign(gateUp.weight.slice(0, 0, 5));
    up.weight.assign(gateUp.weight.slice(0, 5));
    const plain = new GatedMLP({ gate: "g", up: "u", down: "d" }, { gate, up, down });
    const x = randn([2, 3, 6], { seed: 5 });
    expect(maxAbsDiff(fused.forward(x), plain.forward(x))).toBeLessThan(1e-6);
    expect(() => new FusedGatedMLP({ gateUp: "gate_up_proj", down: "down_proj" }, { gateUp: new Linear(6, 9), down })).toThrow(
      /gate_up_proj must have 2 x 5 outputs \(gate and up for down_proj\), found 9/,
    );
  });
});

describe("embedding scale and logit soft-capping (Gemma)", () => {
  it("scale multiplies the token vectors; the head's cap bounds the logits at cap * tanh(logits / cap)", () => {
    const tokens = new Embedding(10, 4);
    tokens.initialize(new Rng(2), 3);
    const ids = arange(0, 10).reshape(1, 10);
    const scaled = new TokenEmbedder({ tokens, scale: 2 }).forward(ids, ids);
    expect(maxAbsDiff(scaled, tokens.forward(ids).mul(2))).toBe(0);
    const capped = new OutputHead(4, 10, { tiedTo: tokens, softcap: 5 });
    const plain = new OutputHead(4, 10, { tiedTo: tokens });
    const h: Tensor = randn([1, 3, 4], { seed: 3 }).mul(4);
    const raw = plain.forward(h);
    expect(Math.max(...values(raw).map(Math.abs))).toBeGreaterThan(5);
    expect(maxAbsDiff(capped.forward(h), raw.div(5).tanh().mul(5))).toBeLessThan(1e-6);
    expect(Math.max(...values(capped.forward(h)).map(Math.abs))).toBeLessThanOrEqual(5);
    expect(() => new OutputHead(4, 10, { softcap: 0 })).toThrow(/softcap must be a positive number or null, found 0/);
  });
});
