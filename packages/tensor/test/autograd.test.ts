import { describe, expect, test } from "vitest";
import { keep, noGrad, randn, tensor, tidy, type Tensor } from "../src/index.js";

describe("autograd", () => {
  test("gradients accumulate across uses and across backward calls", async () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    x.mul(x).sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([2, 4, 6]);
    x.sum().backward();
    expect(Array.from(await x.grad!.data())).toEqual([3, 5, 7]);
    x.zeroGrad();
    expect(x.grad).toBeNull();
  });
  test("noGrad and detach stop recording", () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(noGrad(() => x.mul(2)).requiresGrad).toBe(false);
    expect(x.detach().mul(2).requiresGrad).toBe(false);
    expect(x.mul(2).requiresGrad).toBe(true);
  });
  test("only inputs that require grad get one", async () => {
    const a = tensor([1, 2], { requiresGrad: true });
    const b = tensor([3, 4]);
    a.mul(b).sum().backward();
    expect(Array.from(await a.grad!.data())).toEqual([3, 4]);
    expect(b.grad).toBeNull();
  });
  test("backward needs a gradient for non-scalar outputs and a graph", () => {
    const a = tensor([1, 2], { requiresGrad: true });
    expect(() => a.mul(2).backward()).toThrow(/non-scalar output of shape \[2\]/);
    expect(() => tensor([1]).backward()).toThrow(/does not require grad/);
  });
  test("assign replaces a leaf's value in place", async () => {
    const p = tensor([1, 2], { requiresGrad: true });
    p.assign(tensor([5, 6]));
    expect(Array.from(await p.data())).toEqual([5, 6]);
    expect(() => p.assign(tensor([1, 2, 3]))).toThrow(/expected a float32 tensor of shape \[2\], got float32 \[3\]/);
  });
});

describe("slice gradients added in place", () => {
  // later slices of one tensor add their gradients into the first one's padded gradient (see
  // GradNode.accumulate): the result must be what padding each and summing gives
  const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => ((i * 7 + seed * 3) % 11) - 5);
  test("disjoint, overlapping and strided slices, beside a direct use", async () => {
    const x = tensor(values(12, 1), { shape: [2, 6], requiresGrad: true });
    const cuts: [number, number, number][] = [
      [0, 2, 1],
      [2, 4, 1],
      [1, 5, 1],
      [0, 6, 2],
    ];
    const weights = cuts.map(([s, e, step], i) =>
      tensor(values(2 * Math.ceil((e - s) / step), i + 2), { shape: [2, Math.ceil((e - s) / step)] }),
    );
    const direct = tensor(values(12, 9), { shape: [2, 6] });
    let loss = x.mul(direct).sum();
    cuts.forEach(([s, e, step], i) => {
      loss = loss.add(x.slice(1, s, e, step).mul(weights[i]!).sum());
    });
    loss.backward();
    const expected = values(12, 9);
    for (const [i, [s, e, step]] of cuts.entries()) {
      const w = values(2 * Math.ceil((e - s) / step), i + 2);
      const width = Math.ceil((e - s) / step);
      for (let r = 0; r < 2; r++) for (let j = 0; j < width; j++) expected[r * 6 + s + j * step]! += w[r * width + j]!;
    }
    expect(Array.from(await x.grad!.data())).toEqual(expected);
  });
  test("a gradient handed to two inputs is never written in place for one of them", async () => {
    // both orders of the terms: which of x1's uses backward reaches first follows the graph's order
    for (const slicesFirst of [false, true]) {
      const w1 = tensor(values(6, 1), { shape: [6], requiresGrad: true });
      const w2 = tensor(values(6, 2), { shape: [6], requiresGrad: true });
      const x1 = w1.mul(1);
      const x2 = w2.mul(1);
      const s = x1.add(x2); // its gradient (a sum: s is used twice) reaches x1 and x2 as one tensor
      const sTerms = s.sum().add(s.mul(tensor(values(6, 3))).sum());
      const sliceTerms = x1
        .slice(0, 1, 4)
        .mul(10)
        .sum()
        .add(x1.slice(0, 2, 5).sum());
      (slicesFirst ? sliceTerms.add(sTerms) : sTerms.add(sliceTerms)).backward();
      const shared = values(6, 3).map((v) => 1 + v);
      expect(Array.from(await w2.grad!.data())).toEqual(shared);
      expect(Array.from(await w1.grad!.data())).toEqual(shared.map((v, i) => v + (i >= 1 && i < 4 ? 10 : 0) + (i >= 2 && i < 5 ? 1 : 0)));
    }
  });
});

describe("tidy", () => {
  test("frees intermediates and keeps results and kept tensors", () => {
    let inner: Tensor[] = [];
    let kept: Tensor | null = null;
    const out = tidy(() => {
      const a = randn([4]);
      const b = a.exp();
      kept = keep(b.mul(2));
      inner = [a, b];
      return { result: [b.sum()] };
    });
    expect(inner.every((t) => t.isDisposed)).toBe(true);
    expect(out.result[0]!.isDisposed).toBe(false);
    expect(kept!.isDisposed).toBe(false);
  });
  test("a view keeps its storage alive after its base is disposed", async () => {
    const view = tidy(() => tensor([1, 2, 3, 4]).reshape(2, 2).transpose());
    expect(await view.toArray()).toEqual([
      [1, 3],
      [2, 4],
    ]);
  });
  test("tensors the graph needs survive tidy until backward, then are freed", async () => {
    const w = tensor([0.5, -1, 2], { requiresGrad: true });
    let intermediate: Tensor | null = null;
    const loss = tidy(() => {
      intermediate = w.exp();
      return intermediate.mul(w).sum();
    });
    expect(intermediate!.isDisposed).toBe(false);
    loss.backward();
    expect(intermediate!.isDisposed).toBe(true);
    const v = [0.5, -1, 2];
    const g = await w.grad!.data();
    v.forEach((x, i) => expect(g[i]).toBeCloseTo(Math.exp(x) * (1 + x), 5));
  });
  test("using a disposed tensor is a clear error", () => {
    const t = tensor([1]);
    t.dispose();
    expect(() => t.add(1)).toThrow(/tensor of shape \[1\] was disposed/);
  });
  test("async functions keep the scope open until they settle", async () => {
    let a: Tensor | null = null;
    const r = await tidy(async () => {
      a = tensor([1, 2]).mul(3);
      await Promise.resolve();
      return a.sum();
    });
    expect(a!.isDisposed).toBe(true);
    expect(await r.item()).toBe(9);
  });
});
