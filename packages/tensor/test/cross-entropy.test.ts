import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend } from "../src/cpu/backend.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { crossEntropyRows, logSoftmax, tensor, type Backend, type Tensor } from "../src/index.js";
import { randomF32 } from "./cpu-helpers.js";

// crossEntropyRows: -log softmax(logits)[target] without the log-probabilities in memory. On the
// CPU backend's resident kernels it must give the composed -logSoftmax().takeAlongAxis() loss and
// logits gradient bit for bit (training on it changes nothing but memory and time), on any number
// of threads; its JS fallback agrees to float32 rounding.

const resident = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0 }));
const js = new CpuBackend({ wasm: false });
afterAll(() => {
  for (const b of [...resident, js]) b.close();
});

interface Case {
  name: string;
  shape: number[];
  /** logits to overwrite with -Infinity (a masked vocabulary entry, a fully masked row) */
  minusInfinity?: number[];
}

const cases: Case[] = [
  { name: "[5, 37] (a vector tail on every row)", shape: [5, 37] },
  { name: "[2, 3, 64]", shape: [2, 3, 64] },
  { name: "[33, 515], large logits", shape: [33, 515] },
  {
    name: "[4, 9] with -Infinity entries and a row of -Infinity",
    shape: [4, 9],
    minusInfinity: [2, 5, 27, 28, 29, 30, 31, 32, 33, 34, 35],
  },
];

function inputs(c: Case): { logits: Float32Array; targets: Int32Array; upstream: Float32Array } {
  const vocab = c.shape[c.shape.length - 1]!;
  const rows = c.shape.slice(0, -1).reduce((a, b) => a * b, 1);
  const logits = randomF32(rows * vocab, 11).map((v) => v * (c.name.includes("large") ? 40 : 3));
  for (const i of c.minusInfinity ?? []) logits[i] = -Infinity;
  const targets = Int32Array.from({ length: rows }, (_, r) => (r * 7 + 3) % vocab);
  const upstream = randomF32(rows, 12);
  return { logits, targets, upstream };
}

/** Loss rows and the logits' gradient under upstream gradient `upstream`, by `loss`. */
function run(backend: Backend, c: Case, loss: (x: Tensor, t: Tensor) => Tensor): { loss: Float32Array; grad: Float32Array } {
  const { logits, targets, upstream } = inputs(c);
  const x = tensor(logits, { shape: c.shape, backend });
  x.requiresGrad = true;
  const t = tensor(targets, { shape: c.shape.slice(0, -1), dtype: "int32", backend });
  const g = tensor(upstream, { shape: c.shape.slice(0, -1), backend });
  const y = loss(x, t);
  y.backward(g);
  const out = { loss: y.dataSync() as Float32Array, grad: x.grad!.dataSync() as Float32Array };
  for (const z of [x, t, g, y]) z.dispose();
  return out;
}

const fusedLoss = (x: Tensor, t: Tensor): Tensor => crossEntropyRows(x, t);
const composedLoss = (x: Tensor, t: Tensor): Tensor => logSoftmax(x, -1).takeAlongAxis(t.unsqueeze(-1), -1).squeeze(-1).neg();

describe("crossEntropyRows", () => {
  for (const c of cases) {
    it(`${c.name}: the composed loss and gradient bit for bit, on 1, 2 and 3 threads, without logSoftmax's kernels`, () => {
      const want = run(resident[0]!, c, composedLoss);
      const calls = new Map(residentStats.calls);
      const got = resident.map((b) => run(b, c, fusedLoss));
      const made = [...residentStats.calls].filter(([k, n]) => n !== (calls.get(k) ?? 0)).map(([k]) => k);
      expect(made).toContain("exp_shift_scale_rows");
      expect(made).not.toContain("exp_scale_sub_rows");
      expect(made).not.toContain("row_sums");
      for (const [i, r] of got.entries()) {
        expect(r.loss, `${i + 1} threads: loss`).toEqual(want.loss);
        expect(r.grad, `${i + 1} threads: gradient`).toEqual(want.grad);
      }
    });

    it(`${c.name}: the JS fallback agrees with the composed ops to float32 rounding`, () => {
      const want = run(js, c, composedLoss);
      const got = run(js, c, fusedLoss);
      for (const [name, a, b] of [
        ["loss", got.loss, want.loss],
        ["gradient", got.grad, want.grad],
      ] as const) {
        for (let i = 0; i < b.length; i++) {
          if (a[i] === b[i]) continue;
          expect(Math.abs(a[i]! - b[i]!), `${name} ${i}: ${a[i]} vs ${b[i]}`).toBeLessThanOrEqual(2e-6 * (1 + Math.abs(b[i]!)));
        }
      }
    });
  }

  it("names the shapes it expects", () => {
    const be = resident[0]!;
    const x = tensor(new Float32Array(12), { shape: [3, 4], backend: be });
    const t = tensor(new Int32Array(2), { shape: [2], dtype: "int32", backend: be });
    expect(() => crossEntropyRows(x, t)).toThrow(
      /targets must have the logits' shape without its last axis, \[3\] for logits \[3,4\], got \[2\]/,
    );
    const f = tensor(new Float32Array(3), { shape: [3], backend: be });
    expect(() => crossEntropyRows(x, f)).toThrow(/targets/);
  });
});
