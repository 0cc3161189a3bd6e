import { describe, expect, test } from "vitest";
import {
  CpuBackend,
  DTypeError,
  Rng,
  ShapeError,
  causalMask,
  concat,
  cpuBackend,
  scaledDotProductAttention,
  tensor,
  where,
  type Backend,
  type FusedKernels,
  type Tensor,
} from "../src/index.js";
import { gradcheck } from "./gradcheck.js";

/** The CPU backend without its fused attention, so the op takes the composed path. */
class ComposedCpuBackend extends CpuBackend {
  override readonly fused: FusedKernels = { ...cpuBackend.fused, attention: undefined };
}
const composed = new ComposedCpuBackend();

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number, what: string) => {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol)) expect.fail(`${what}, element ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
};

const rng = new Rng(7);
const randomValues = (n: number) => Array.from({ length: n }, () => rng.normal());

/** Attention written out with explicit per-head keys: each query head gathers its kv head. */
function reference(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, bias: Tensor | null, scale: number, softcap?: number): Tensor {
  const H = q.shape[1]!;
  const group = H / k.shape[1]!;
  const heads = Array.from({ length: H }, (_, h) => Math.floor(h / group));
  const kx = concat(
    heads.map((j) => k.narrow(1, j, 1)),
    1,
  );
  const vx = concat(
    heads.map((j) => v.narrow(1, j, 1)),
    1,
  );
  let scores = q.matmul(kx.transpose(-1, -2)).mul(scale);
  if (softcap) scores = scores.div(softcap).tanh().mul(softcap);
  if (bias) scores = scores.add(bias);
  if (mask) scores = where(mask, scores, -Infinity);
  return scores.softmax(-1).matmul(vx);
}

interface Case {
  name: string;
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
}

const cases: Case[] = [
  { name: "multi-head", B: 2, H: 3, Hkv: 3, T: 4, S: 6, D: 5 },
  { name: "grouped-query", B: 2, H: 4, Hkv: 2, T: 3, S: 5, D: 4 },
  { name: "multi-query", B: 1, H: 3, Hkv: 1, T: 4, S: 4, D: 8 },
  { name: "decode (one query, KV cache)", B: 2, H: 4, Hkv: 2, T: 1, S: 9, D: 6 },
];

/** q, k, v stored [B, seq, heads, D] and viewed [B, heads, seq, D], as Attention makes them. */
function inputs(c: Case, backend: Backend, host?: number[][]) {
  const data = host ?? [randomValues(c.B * c.T * c.H * c.D), randomValues(c.B * c.S * c.Hkv * c.D), randomValues(c.B * c.S * c.Hkv * c.D)];
  const q = tensor(data[0]!, { shape: [c.B, c.T, c.H, c.D], backend }).transpose(1, 2);
  const k = tensor(data[1]!, { shape: [c.B, c.S, c.Hkv, c.D], backend }).transpose(1, 2);
  const v = tensor(data[2]!, { shape: [c.B, c.S, c.Hkv, c.D], backend }).transpose(1, 2);
  return { q, k, v, data };
}

/** Causal over the last T keys, with batch 0's first query row fully masked. */
function maskFor(c: Case, backend: Backend): Tensor {
  const causal = (causalMask(c.T, c.S, backend).dataSync() as Uint8Array).map((x) => x);
  const host: boolean[] = [];
  for (let b = 0; b < c.B; b++) causal.forEach((x, i) => host.push(b === 0 && i < c.S ? false : x !== 0));
  return tensor(host, { shape: [c.B, 1, c.T, c.S], backend });
}

const biasFor = (c: Case, backend: Backend) => tensor(randomValues(c.H * c.S), { shape: [c.H, 1, c.S], backend });

describe("scaledDotProductAttention forward", () => {
  for (const c of cases) {
    for (const extras of ["none", "mask", "mask and bias"] as const) {
      test(`${c.name}, ${extras}: fused, composed and the per-head reference agree`, async () => {
        const scale = 0.4;
        const { q, k, v, data } = inputs(c, cpuBackend);
        const mask = extras === "none" ? null : maskFor(c, cpuBackend);
        const bias = extras === "mask and bias" ? biasFor(c, cpuBackend) : null;
        const expected = (await reference(q, k, v, mask, bias, scale).data()) as Float32Array;
        const fused = await scaledDotProductAttention(q, k, v, { mask, bias, scale }).data();
        close(fused, expected, 1e-5, "fused cpu kernel");

        const c2 = inputs(c, composed, data);
        const mask2 = mask ? tensor(mask.dataSync(), { shape: [...mask.shape], dtype: "bool", backend: composed }) : null;
        const bias2 = bias ? tensor(bias.dataSync(), { shape: [...bias.shape], backend: composed }) : null;
        const viaComposed = await scaledDotProductAttention(c2.q, c2.k, c2.v, { mask: mask2, bias: bias2, scale }).data();
        close(viaComposed, expected, 1e-5, "composed path");
        if (mask) close(fused.slice(0, c.D), new Array(c.D).fill(0), 0, "fully masked row");
      });
    }
  }

  for (const c of cases) {
    test(`${c.name}, soft-capped scores (Gemma 2): the fused kernel steps aside, the result is the reference's`, async () => {
      const { q, k, v } = inputs(c, cpuBackend);
      const mask = maskFor(c, cpuBackend);
      const bias = biasFor(c, cpuBackend);
      // a small cap, so the cap changes the result
      const capped = await scaledDotProductAttention(q, k, v, { mask, bias, scale: 0.9, softcap: 0.8 }).data();
      close(capped, (await reference(q, k, v, mask, bias, 0.9, 0.8).data()) as Float32Array, 1e-5, "soft-capped");
      const uncapped = (await reference(q, k, v, mask, bias, 0.9).data()) as Float32Array;
      expect(Math.max(...capped.map((x, i) => Math.abs(x - uncapped[i]!)))).toBeGreaterThan(1e-2);
    });
  }

  test("softcap must be positive", () => {
    const { q, k, v } = inputs(cases[0]!, cpuBackend);
    expect(() => scaledDotProductAttention(q, k, v, { softcap: 0 })).toThrow(/softcap must be a positive finite number or null, got 0/);
  });

  test("scale defaults to 1 / sqrt(headDim); keys may come from a concatenation (a KV cache)", async () => {
    const c: Case = { name: "", B: 1, H: 2, Hkv: 2, T: 1, S: 5, D: 4 };
    const { q, k, v } = inputs(c, cpuBackend);
    const k2 = concat([k.narrow(2, 0, 3), k.narrow(2, 3, 2)], 2);
    const got = await scaledDotProductAttention(q, k2, v).data();
    close(got, (await reference(q, k, v, null, null, 0.5).data()) as Float32Array, 1e-5, "default scale");
  });
});

describe("scaledDotProductAttention gradients match finite differences", () => {
  const grad = (c: Case, withMask: boolean, withBias: boolean, softcap?: number) => {
    const mask = withMask ? maskFor(c, cpuBackend) : null;
    const shapes = [{ shape: [c.B, c.H, c.T, c.D] }, { shape: [c.B, c.Hkv, c.S, c.D] }, { shape: [c.B, c.Hkv, c.S, c.D] }];
    if (withBias) shapes.push({ shape: [c.H, 1, c.S] });
    return gradcheck((q, k, v, bias) => scaledDotProductAttention(q!, k!, v!, { mask, bias: bias ?? null, scale: 0.7, softcap }), shapes);
  };
  const small: Case[] = [
    { name: "multi-head", B: 1, H: 2, Hkv: 2, T: 3, S: 3, D: 2 },
    { name: "grouped-query", B: 2, H: 4, Hkv: 2, T: 2, S: 3, D: 2 },
    { name: "multi-query", B: 1, H: 3, Hkv: 1, T: 2, S: 4, D: 3 },
  ];
  for (const c of small) {
    test(`${c.name}`, () => grad(c, false, false));
    test(`${c.name} with mask and bias`, () => grad(c, true, true));
    test(`${c.name} soft-capped, with mask and bias`, () => grad(c, true, true, 0.6));
  }
  test("decode step with mask", () => grad({ name: "", B: 2, H: 4, Hkv: 1, T: 1, S: 5, D: 2 }, true, false));
});

describe("scaledDotProductAttention errors name the argument, the expected and the found", () => {
  const q = tensor(randomValues(2 * 4 * 3 * 8), { shape: [2, 4, 3, 8] });
  const k = tensor(randomValues(2 * 2 * 5 * 8), { shape: [2, 2, 5, 8] });
  test.each([
    ["q rank", () => scaledDotProductAttention(q.reshape(8, 3, 8), k, k), ShapeError, /q must have rank 4 .*\[8,3,8\]/],
    [
      "k head dim",
      () => scaledDotProductAttention(q, k.narrow(3, 0, 4), k),
      ShapeError,
      /k must have shape \[2, kvHeads, keys, 8\].*\[2,2,5,4\]/,
    ],
    [
      "v shape",
      () => scaledDotProductAttention(q, k, k.narrow(2, 0, 4)),
      ShapeError,
      /v must have the shape of k \[2,2,5,8\].*\[2,2,4,8\]/,
    ],
    [
      "kv heads",
      () => scaledDotProductAttention(q.narrow(1, 0, 3), k, k),
      ShapeError,
      /kv heads of k \(2\) must divide the query heads of q \(3\)/,
    ],
    ["mask dtype", () => scaledDotProductAttention(q, k, k, { mask: tensor([1]) }), DTypeError, /mask must be bool, got float32/],
    [
      "mask shape",
      () => scaledDotProductAttention(q, k, k, { mask: tensor([true, false]) }),
      ShapeError,
      /mask must be broadcastable to .*\[2,4,3,5\], got \[2\]/,
    ],
    [
      "bias dtype",
      () => scaledDotProductAttention(q, k, k, { bias: tensor([1], { dtype: "int32" }) }),
      DTypeError,
      /bias must be float32, got int32/,
    ],
    ["k dtype", () => scaledDotProductAttention(q, k.int(), k), DTypeError, /k must be float32, got int32/],
  ])("%s", (_, f, type, message) => {
    expect(f).toThrow(type);
    expect(f).toThrow(message);
  });
});
