import { describe, expect, it } from "vitest";
import { arange, concat, noGrad, randn, Rng, tensor, type Tensor } from "@llm/tensor";
import {
  AlibiBias,
  Attention,
  buildAttentionMask,
  LayerNorm,
  Linear,
  MLP,
  RotaryEmbedding,
  TransformerBlock,
  TransformerKVCache,
  type PositionEncoding,
  type ResidualLayout,
} from "@llm/layers";
import { maxAbsDiff, values } from "./helpers.js";

/** Positions start.. as int32 [1, length]. */
function tensorRange(start: number, length: number): Tensor {
  return arange(start, start + length).reshape(1, length);
}

function separateAttention(heads: number, kvHeads: number, headDim: number, position?: PositionEncoding): Attention {
  const hidden = 8;
  const attention = new Attention({
    heads,
    kvHeads,
    headDim,
    projection: {
      kind: "separate",
      names: { q: "q", k: "k", v: "v" },
      q: new Linear(hidden, heads * headDim),
      k: new Linear(hidden, kvHeads * headDim),
      v: new Linear(hidden, kvHeads * headDim),
    },
    output: { name: "o", linear: new Linear(heads * headDim, hidden) },
    position,
  });
  attention.initialize(new Rng(3), 0.5);
  return attention;
}

/** Plain-number attention: every head in a loop, kv head h / group (LLaMA's repeat_kv), causal. */
function naiveAttention(attention: Attention, x: number[][]): number[][] {
  const { heads, kvHeads, headDim } = attention.counts;
  if (attention.projection.kind !== "separate") throw new Error("separate projections only");
  const lin = (l: Linear, rows: number[][]) => {
    const w = values(l.weight);
    const b = l.bias ? values(l.bias) : null;
    return rows.map((r) =>
      Array.from({ length: l.outFeatures }, (_, o) => r.reduce((s, v, i) => s + v * w[o * l.inFeatures + i]!, b ? b[o]! : 0)),
    );
  };
  const q = lin(attention.projection.q, x);
  const k = lin(attention.projection.k, x);
  const v = lin(attention.projection.v, x);
  const mixed = x.map(() => new Array<number>(heads * headDim).fill(0));
  for (let h = 0; h < heads; h++) {
    const g = Math.floor(h / (heads / kvHeads));
    for (let i = 0; i < x.length; i++) {
      const scores = Array.from({ length: i + 1 }, (_, j) => {
        let s = 0;
        for (let d = 0; d < headDim; d++) s += q[i]![h * headDim + d]! * k[j]![g * headDim + d]!;
        return s / Math.sqrt(headDim);
      });
      const m = Math.max(...scores);
      const e = scores.map((s) => Math.exp(s - m));
      const z = e.reduce((a, b) => a + b, 0);
      for (let j = 0; j <= i; j++) for (let d = 0; d < headDim; d++) mixed[i]![h * headDim + d]! += (e[j]! / z) * v[j]![g * headDim + d]!;
    }
  }
  return lin(attention.output, mixed);
}

describe("Attention", () => {
  it.each([
    ["multi-head", 4, 4],
    ["grouped-query", 4, 2],
    ["multi-query", 4, 1],
  ])("%s heads match a per-head loop", (_, heads, kvHeads) => {
    const attention = separateAttention(heads, kvHeads, 2);
    const x = randn([1, 3, 8], { seed: 1 });
    const out = noGrad(() => attention.forward(x, { positionIds: tensorRange(0, 3), mask: buildAttentionMask(3, 3) }));
    const rows = [0, 1, 2].map((i) => values(x).slice(i * 8, i * 8 + 8));
    const expected = naiveAttention(attention, rows).flat();
    values(out).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 4));
  });

  it("fused layouts split into the same heads as separate projections", () => {
    // "grouped" with one query head per group is NeoX's [heads, 3, headDim]; "blocks" is q|k|v.
    const heads = 2;
    const headDim = 2;
    const hidden = 4;
    const separate = separateAttention(heads, heads, headDim);
    const p = separate.projection as Extract<typeof separate.projection, { kind: "separate" }>;
    const [wq, wk, wv] = [p.q, p.k, p.v].map((l) => values(l.weight));
    const [bq, bk, bv] = [p.q, p.k, p.v].map((l) => values(l.bias!));
    const rowsOf = (w: number[], h: number) => w.slice(h * headDim * 8, (h + 1) * headDim * 8);
    const biasOf = (b: number[], h: number) => b.slice(h * headDim, (h + 1) * headDim);
    const layouts = {
      blocks: { w: [...wq!, ...wk!, ...wv!], b: [...bq!, ...bk!, ...bv!] },
      grouped: {
        w: [0, 1].flatMap((h) => [...rowsOf(wq!, h), ...rowsOf(wk!, h), ...rowsOf(wv!, h)]),
        b: [0, 1].flatMap((h) => [...biasOf(bq!, h), ...biasOf(bk!, h), ...biasOf(bv!, h)]),
      },
    };
    const x = randn([1, 3, 8], { seed: 2 });
    const context = { positionIds: tensorRange(0, 3), mask: buildAttentionMask(3, 3) };
    const expected = noGrad(() => separate.forward(x, context));
    for (const [layout, { w, b }] of Object.entries(layouts)) {
      const fused = new Linear(8, 3 * hidden);
      fused.weight.assign(tensor(w, { shape: fused.weight.shape }));
      fused.bias!.assign(tensor(b, { shape: fused.bias!.shape }));
      const attention = new Attention({
        heads,
        headDim,
        projection: { kind: "fused", name: "qkv", linear: fused, layout: layout as "blocks" | "grouped" },
        output: { name: "o", linear: separate.output },
      });
      expect(
        maxAbsDiff(
          noGrad(() => attention.forward(x, context)),
          expected,
        ),
        layout,
      ).toBeLessThan(1e-6);
    }
  });

  it.each([
    ["rotary", new RotaryEmbedding(4, { style: "half", rotaryDim: 2 })],
    ["alibi", new AlibiBias(4)],
  ])("with a KV cache, token-by-token equals the full forward (%s)", (_, position) => {
    const attention = separateAttention(4, 2, 4, position);
    const x = randn([2, 5, 8], { seed: 4 });
    const full = noGrad(() => attention.forward(x, { positionIds: tensorRange(0, 5).expand(2, 5), mask: buildAttentionMask(5, 5) }));
    const cache = new TransformerKVCache(1);
    const steps = [
      [0, 2],
      [2, 1],
      [3, 2],
    ].map(([start, length]) =>
      noGrad(() =>
        attention.forward(
          x.slice(1, start!, start! + length!),
          {
            positionIds: tensorRange(start!, length!).expand(2, length!),
            mask: buildAttentionMask(length!, start! + length!),
          },
          cache.layers[0],
        ),
      ),
    );
    expect(cache.length).toBe(5);
    expect(maxAbsDiff(concat(steps, 1), full)).toBeLessThan(1e-5);
    cache.dispose();
    expect(cache.length).toBe(0);
  });

  it("rejects kv heads that do not divide the heads, and projections of the wrong width", () => {
    expect(() => separateAttention(4, 3, 2)).toThrow(/kvHeads must divide heads \(4\), found 3/);
    expect(
      () =>
        new Attention({
          heads: 2,
          headDim: 4,
          projection: { kind: "fused", name: "c_attn", linear: new Linear(8, 20), layout: "blocks" },
          output: { name: "o", linear: new Linear(8, 8) },
        }),
    ).toThrow(/c_attn must have 24 outputs \(2 query heads, 2 kv heads of 4 dims\), found 20/);
  });
});

describe("TransformerBlock", () => {
  const layouts: ResidualLayout[] = ["pre-ln", "pre-ln-residual-from-norm", "post-ln", "parallel", "parallel-two-norms"];
  it.each(layouts)("%s composes norms, attention, MLP and residuals as documented", (layout) => {
    const attention = separateAttention(2, 2, 4);
    const mlp = new MLP({ up: "fc1", down: "fc2" }, new Linear(8, 16), new Linear(16, 8), "gelu");
    const [n1, n2] = [new LayerNorm(8), new LayerNorm(8)];
    mlp.initialize(new Rng(5), 0.3);
    n1.initialize(new Rng(0), 0);
    n2.initialize(new Rng(0), 0);
    const twoNorms = layout !== "parallel";
    const block = new TransformerBlock(
      {
        norm1: ["ln1", n1],
        attention: ["attn", attention],
        mlp: ["mlp", mlp],
        ...(twoNorms ? { norm2: ["ln2", n2] as ["ln2", LayerNorm] } : {}),
      },
      layout,
    );
    const x = randn([1, 3, 8], { seed: 6 });
    const context = { positionIds: tensorRange(0, 3), mask: buildAttentionMask(3, 3) };
    const attend = (h: Tensor) => attention.forward(h, context);
    const f = (h: Tensor) => mlp.forward(h);
    const expected = noGrad(() => {
      switch (layout) {
        case "pre-ln": {
          const h = x.add(attend(n1.forward(x)));
          return h.add(f(n2.forward(h)));
        }
        case "pre-ln-residual-from-norm": {
          const a = n1.forward(x);
          const h = a.add(attend(a));
          const b = n2.forward(h);
          return b.add(f(b));
        }
        case "post-ln": {
          const h = n1.forward(x.add(attend(x)));
          return n2.forward(h.add(f(h)));
        }
        case "parallel":
          return x.add(attend(n1.forward(x))).add(f(n1.forward(x)));
        case "parallel-two-norms":
          return x.add(attend(n1.forward(x))).add(f(n2.forward(x)));
        case "sandwich":
          throw new Error("four norms: parts.test.ts checks this layout");
      }
    });
    expect(
      maxAbsDiff(
        noGrad(() => block.forward(x, context)),
        expected,
      ),
    ).toBe(0);
    expect(Object.keys(block.stateDict())[0]).toBe("ln1.weight");
  });
});
