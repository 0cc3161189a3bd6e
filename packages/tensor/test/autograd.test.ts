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
