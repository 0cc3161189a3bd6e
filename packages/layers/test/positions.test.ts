import { describe, expect, it } from "vitest";
import { concat, Rng, stack, tensor, type Tensor } from "@llm/tensor";
import { AlibiBias, alibiSlopes, Embedding, Glm2DPositions, LearnedPositions, RotaryEmbedding } from "@llm/layers";
import { values } from "./helpers.js";

describe("RotaryEmbedding", () => {
  // One head, one token at position 3; theta 10000 over 4 rotary dims gives frequencies 1 and 1/100.
  const x = [1, 2, 3, 4];
  const [a, b] = [3, 0.03];
  const rot = (u: number, v: number, t: number) => [u * Math.cos(t) - v * Math.sin(t), v * Math.cos(t) + u * Math.sin(t)];
  const rotate = (r: RotaryEmbedding, input: number[]) => {
    const q = tensor(input, { shape: [1, 1, 1, input.length] });
    const [rq, rk] = r.rotate(q, q, tensor([[3]], { dtype: "int32" }));
    expect(values(rk)).toEqual(values(rq));
    return values(rq);
  };

  it("half split (NeoX) pairs dim i with dim i + r/2", () => {
    const [o0, o2] = rot(x[0]!, x[2]!, a);
    const [o1, o3] = rot(x[1]!, x[3]!, b);
    const out = rotate(new RotaryEmbedding(4, { style: "half" }), x);
    [o0, o1, o2, o3].forEach((e, i) => expect(out[i]).toBeCloseTo(e!, 5));
  });

  it("interleaved (GPT-J) pairs dims 2i and 2i+1", () => {
    const [o0, o1] = rot(x[0]!, x[1]!, a);
    const [o2, o3] = rot(x[2]!, x[3]!, b);
    const out = rotate(new RotaryEmbedding(4, { style: "interleaved" }), x);
    [o0, o1, o2, o3].forEach((e, i) => expect(out[i]).toBeCloseTo(e!, 5));
  });

  it("rotates only the first rotaryDim dims and honours theta", () => {
    const input = [1, 2, 3, 4, 5, 6];
    const out = rotate(new RotaryEmbedding(6, { style: "half", rotaryDim: 4, theta: 100 }), input);
    // theta 100 over 4 dims: frequencies 1 and 1/10.
    const [o0, o2] = rot(1, 3, 3);
    const [o1, o3] = rot(2, 4, 0.3);
    [o0, o1, o2, o3, 5, 6].forEach((e, i) => expect(out[i]).toBeCloseTo(e!, 5));
  });

  it("position 0 is the identity", () => {
    const r = new RotaryEmbedding(4, { style: "interleaved" });
    const q = tensor(x, { shape: [1, 1, 1, 4] });
    expect(values(r.rotate(q, q, tensor([[0]], { dtype: "int32" }))[0])).toEqual(x);
  });

  // The rotation as pairs (a cos - b sin, b cos + a sin), the way it was first written here: the
  // tables' four-op form must give the same floats, not merely close ones.
  const pairwise = (r: RotaryEmbedding, x: Tensor, positions: Tensor): Tensor => {
    const { cos, sin } = r.angles(positions);
    const [n, half] = [r.rotaryDim, r.rotaryDim / 2];
    const [a, b] = r.style === "half" ? [x.slice(-1, 0, half), x.slice(-1, half, n)] : [x.slice(-1, 0, n, 2), x.slice(-1, 1, n, 2)];
    const ra = a.mul(cos).sub(b.mul(sin));
    const rb = b.mul(cos).add(a.mul(sin));
    const rotated = r.style === "half" ? concat([ra, rb], -1) : stack([ra, rb], -1).reshape([...x.shape.slice(0, -1), n]);
    return n === r.headDim ? rotated : concat([rotated, x.slice(-1, n)], -1);
  };

  it.each([
    ["half", 8, 8],
    ["half", 10, 4],
    ["interleaved", 8, 8],
    ["interleaved", 12, 6],
  ] as const)("%s style, headDim %i, rotaryDim %i: the same floats as the pairwise rotation", (style, headDim, rotaryDim) => {
    const r = new RotaryEmbedding(headDim, { style, rotaryDim, theta: 500 });
    const rng = new Rng(headDim + rotaryDim);
    const x = tensor(
      Float32Array.from({ length: 2 * 3 * 5 * headDim }, () => rng.normal() * 3),
      { shape: [2, 3, 5, headDim] },
    );
    const positions = tensor(
      [
        [0, 1, 2, 3, 4],
        [7, 100, 1000, 4095, 9],
      ],
      { dtype: "int32" },
    );
    const [rq] = r.rotate(x, x, positions);
    expect(values(rq)).toEqual(values(pairwise(r, x, positions)));
    // and the same again from tables made once for every layer
    const [again] = r.rotate(x, x, positions, r.prepare(positions));
    expect(values(again)).toEqual(values(rq));
  });

  it("rejects an odd or too large rotaryDim", () => {
    expect(() => new RotaryEmbedding(8, { style: "half", rotaryDim: 3 })).toThrow(/rotaryDim must be an even integer in \[2, 8\].*found 3/);
    expect(() => new RotaryEmbedding(8, { style: "half", rotaryDim: 10 })).toThrow(/found 10/);
  });
});

describe("alibiSlopes", () => {
  // Press et al. / BLOOM: the power of two p <= n gets 2^(-8k/p); the rest take the odd k of 2p.
  const geometric = (p: number, ks: number[]) => ks.map((k) => 2 ** ((-8 * k) / p));
  const cases: [number, number[]][] = [
    [4, geometric(4, [1, 2, 3, 4])],
    [6, [...geometric(4, [1, 2, 3, 4]), ...geometric(8, [1, 3])]],
    [12, [...geometric(8, [1, 2, 3, 4, 5, 6, 7, 8]), ...geometric(16, [1, 3, 5, 7])]],
    [
      20,
      [
        ...geometric(
          16,
          Array.from({ length: 16 }, (_, i) => i + 1),
        ),
        ...geometric(32, [1, 3, 5, 7]),
      ],
    ],
  ];
  it.each(cases)("%i heads", (heads, expected) => {
    const slopes = alibiSlopes(heads);
    expect(slopes).toHaveLength(heads);
    slopes.forEach((s, i) => expect(s).toBeCloseTo(expected[i]!, 12));
  });

  it("equals MPT's gen_slopes (next power of two, odd-then-even interleave) for any count and max bias", () => {
    const mpt = (n: number, maxBias: number) => {
      const big = 2 ** Math.ceil(Math.log2(n));
      const s = Array.from({ length: big }, (_, i) => 1 / 2 ** ((i + 1) * (maxBias / big)));
      return big === n ? s : [...s.filter((_, i) => i % 2 === 1), ...s.filter((_, i) => i % 2 === 0)].slice(0, n);
    };
    for (const [n, maxBias] of [
      [6, 8],
      [12, 8],
      [20, 16],
      [7, 8],
      [32, 8],
    ] as const) {
      alibiSlopes(n, maxBias).forEach((s, i) => expect(s).toBeCloseTo(mpt(n, maxBias)[i]!, 12));
    }
  });

  it("rejects a non-positive head count", () => {
    expect(() => alibiSlopes(0)).toThrow(/heads must be a positive integer, found 0/);
  });
});

describe("AlibiBias", () => {
  it("biases by slope times (key position - query position), for queries at the end of the keys", () => {
    const alibi = new AlibiBias(2, { scale: 0.5 });
    const bias = alibi.bias(2, 3);
    expect(bias.shape).toEqual([1, 2, 2, 3]);
    const slopes = alibiSlopes(2).map((s) => s * 0.5);
    const expected = slopes.flatMap((s) => [1, 2].flatMap((q) => [0, 1, 2].map((k) => s * (k - q))));
    values(bias).forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 6));
  });
});

describe("learned positions", () => {
  it("OPT's offset: position p reads row p + 2", () => {
    const table = new Embedding(6, 2);
    table.weight.assign(
      tensor([
        [0, 0],
        [1, 1],
        [2, 2],
        [3, 3],
        [4, 4],
        [5, 5],
      ]),
    );
    const positions = new LearnedPositions(table, { offset: 2 });
    expect(values(positions.embed(tensor([[0, 3]], { dtype: "int32" })))).toEqual([2, 2, 5, 5]);
    expect(positions.maxPositions).toBe(4);
    expect(() => positions.embed(tensor([[4]], { dtype: "int32" }))).toThrow(/position 4 is outside the 4 positions/);
  });

  it("GLM sums the position and the block-position vectors", () => {
    const pos = new Embedding(4, 1);
    const block = new Embedding(4, 1);
    pos.weight.assign(tensor([[0], [10], [20], [30]]));
    block.weight.assign(tensor([[0], [1], [2], [3]]));
    const glm = new Glm2DPositions(pos, block);
    const ids = tensor(
      [
        [
          [0, 1, 2, 2],
          [0, 0, 1, 2],
        ],
      ],
      { dtype: "int32" },
    );
    expect(values(glm.embed(ids))).toEqual([0, 10, 21, 22]);
    expect(() => glm.embed(tensor([[0, 1]], { dtype: "int32" }))).toThrow(/expected positionIds of shape \[batch, 2, seq\]/);
  });
});
