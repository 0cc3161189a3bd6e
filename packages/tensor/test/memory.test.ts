import { afterEach, describe, expect, test } from "vitest";
import {
  causalMask,
  cpuBackend,
  matmul,
  setBackend,
  stack,
  tensor,
  tidy,
  tril,
  where,
  type Backend,
  type BackendBuffer,
  type Tensor,
} from "../src/index.js";

/** The real CPU backend, with every buffer it hands out counted until disposed. */
function countingBackend(): { backend: Backend; live: Set<BackendBuffer> } {
  const live = new Set<BackendBuffer>();
  const wrap = <T extends object>(target: T): T =>
    new Proxy(target, {
      get(obj, prop) {
        const value = Reflect.get(obj, prop, obj) as unknown;
        if (prop === "fused" && value) return wrap(value as object);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          const result = (value as (...a: unknown[]) => unknown).apply(obj, args);
          if (prop === "dispose") live.delete(args[0] as BackendBuffer);
          else if (prop !== "read" && prop !== "readSync" && result && typeof result === "object" && "dtype" in result) {
            live.add(result as BackendBuffer);
          }
          return result;
        };
      },
    });
  return { backend: wrap(cpuBackend), live };
}

afterEach(() => setBackend(cpuBackend));

describe("ops outside tidy leave no buffers behind once their inputs and results are disposed", () => {
  // Each case returns every tensor it made that the caller sees; all are disposed afterwards.
  const cases: [string, (a: Tensor, v: Tensor) => Tensor[]][] = [
    ["scalar operands", (a) => [a.add(1)]],
    ["broadcasting", (a, v) => [a.mul(v)]],
    ["reductions without keepdim", (a) => [a.sum(0)]],
    ["argmax", (a) => [a.argmax(-1)]],
    ["mean and var", (a) => [a.var(1)]],
    ["matmul with a vector", (a, v) => [matmul(v, a)]],
    [
      "reshape of a transposed view",
      (a) => {
        const t = a.transpose();
        return [t, t.reshape(-1)];
      },
    ],
    ["softmax on axis 0", (a) => [a.softmax(0)]],
    ["layerNorm", (a) => [a.layerNorm(null, null)]],
    [
      "where with a number",
      (a) => {
        const mask = a.gt(0);
        return [mask, where(mask, a, 0)];
      },
    ],
    [
      "takeAlongAxis",
      (a) => {
        const indices = tensor(new Int32Array([0, 1, 2]), { shape: [3, 1] });
        return [indices, a.takeAlongAxis(indices, 1)];
      },
    ],
    [
      "stack and tril",
      (a) => {
        const stacked = stack([a, a], 0);
        return [stacked, tril(stacked)];
      },
    ],
    ["causalMask", () => [causalMask(3, 5)]],
  ];
  for (const [name, op] of cases) {
    test(name, () => {
      const { backend, live } = countingBackend();
      setBackend(backend);
      const a = tensor([
        [1, -2, 3],
        [4, 5, -6],
        [0.5, 1, 2],
      ]);
      const v = tensor([1, 0, 2]);
      const made = op(a, v);
      for (const t of [a, v, ...made]) t.dispose();
      expect(live.size).toBe(0);
    });
  }

  test("a training step: only parameters (and their grads) remain", () => {
    const { backend, live } = countingBackend();
    setBackend(backend);
    const w = tensor(
      [
        [0.1, 0.2],
        [0.3, -0.4],
      ],
      { requiresGrad: true },
    );
    const x = tensor([
      [1, 2],
      [3, 4],
    ]);
    for (let step = 0; step < 3; step++) {
      const loss = tidy(() => x.matmul(w).gelu("tanh").softmax().log().mean());
      loss.backward();
      loss.dispose();
    }
    x.dispose();
    expect(live.size).toBe(2); // w and w.grad
    w.grad!.dispose();
    w.dispose();
    expect(live.size).toBe(0);
  });
});
