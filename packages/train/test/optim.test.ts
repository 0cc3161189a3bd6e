import { CpuBackend, Rng, cpuBackend, tensor, type FusedKernels, type Tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { AdamW, SGD, decayGroups } from "../src/index.js";

/** torch.optim.AdamW's update, in float64, for a list of values and gradients per step. */
function adamwReference(
  p0: number[],
  grads: (p: number[]) => number[],
  steps: number,
  lr: number,
  [b1, b2]: [number, number],
  eps: number,
  wd: number,
): number[] {
  let p = [...p0];
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  for (let t = 1; t <= steps; t++) {
    const g = grads(p);
    p = p.map((x) => x * (1 - lr * wd));
    m = m.map((mi, i) => mi + (g[i]! - mi) * (1 - b1));
    v = v.map((vi, i) => vi * b2 + g[i]! * g[i]! * (1 - b2));
    const stepSize = lr / (1 - b1 ** t);
    const bc2 = Math.sqrt(1 - b2 ** t);
    p = p.map((x, i) => x - (stepSize * m[i]!) / (Math.sqrt(v[i]!) / bc2 + eps));
  }
  return p;
}

/** Loss sum(c * p^2 / 2): gradient c * p. */
const coeffs = [0.5, 2, -1, 3];
function quadraticStep(p: Tensor): void {
  p.mul(p).mul(tensor(coeffs)).mul(0.5).sum().backward();
}

describe("AdamW", () => {
  it("follows torch.optim.AdamW's update over several steps", async () => {
    const start = [1, -2, 0.5, 0.25];
    const p = tensor(start).requireGrad();
    const opt = new AdamW([["w", p]], { lr: 0.1, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    for (let i = 0; i < 5; i++) {
      opt.zeroGrad();
      quadraticStep(p);
      opt.step();
    }
    const expected = adamwReference(start, (q) => q.map((x, i) => coeffs[i]! * x), 5, 0.1, [0.9, 0.95], 1e-8, 0.1);
    const got = Array.from(await p.data());
    got.forEach((x, i) => expect(x).toBeCloseTo(expected[i]!, 5));
  });

  it("takes the same float32 steps, bit for bit, with the backend's one-pass kernel as with the op-by-op path", () => {
    // the CPU backend without adamwStep, so AdamW composes its update from tensor ops
    class Composed extends CpuBackend {
      override readonly fused: FusedKernels = { ...cpuBackend.fused, adamwStep: undefined };
    }
    expect(cpuBackend.fused?.adamwStep).toBeDefined();
    const run = (backend: CpuBackend, weightDecay: number): Float32Array[] => {
      const rng = new Rng(7);
      const values = Array.from({ length: 257 }, () => rng.normal() * 3);
      const p = tensor(values, { shape: [257], backend }).requireGrad();
      const opt = new AdamW([["w", p]], { lr: 0.03, betas: [0.9, 0.95], eps: 1e-8, weightDecay });
      const out: Float32Array[] = [];
      for (let step = 0; step < 4; step++) {
        // gradients over many magnitudes, zeros and a sign flip each step
        p.grad = tensor(
          values.map((v, i) => (i % 17 === 0 ? 0 : v * 10 ** ((i % 9) - 4) * (step % 2 ? -1 : 1))),
          { shape: [257], backend },
        ).keep();
        opt.step();
        out.push(p.dataSync() as Float32Array, opt.state().tensors["w.exp_avg_sq"]!.dataSync() as Float32Array);
      }
      return out;
    };
    for (const wd of [0, 0.1]) {
      const fused = run(cpuBackend as CpuBackend, wd);
      const composed = run(new Composed(), wd);
      fused.forEach((a, k) => expect(Array.from(a)).toEqual(Array.from(composed[k]!)));
    }
  });

  it("decays only matrices with decayGroups, and skips parameters without gradients", async () => {
    const w = tensor([[1, 2]]).requireGrad();
    const b = tensor([1, 2]).requireGrad();
    const frozen = tensor([[5]]).requireGrad();
    const groups = decayGroups({ w, b, frozen }, 0.5);
    expect(groups.map((g) => (g.params as [string, Tensor][]).map(([n]) => n))).toEqual([["w", "frozen"], ["b"]]);
    const opt = new AdamW(groups, { lr: 0.1 });
    // Zero gradients: Adam's step is 0, so only the decay moves a parameter.
    w.grad = tensor([[0, 0]]).keep();
    b.grad = tensor([0, 0]).keep();
    opt.step();
    expect(Array.from(await w.data())).toEqual([1 * (1 - 0.05), 2 * (1 - 0.05)].map(Math.fround));
    expect(Array.from(await b.data())).toEqual([1, 2]);
    expect(Array.from(await frozen.data())).toEqual([5]);
    expect(opt.state().meta.paramSteps).toEqual({ w: 1, b: 1 });
  });

  it("restores its state so that the next steps are the same", async () => {
    const run = async (split: boolean) => {
      const p = tensor([1, -2, 0.5, 0.25]).requireGrad();
      let opt = new AdamW([["w", p]], { lr: 0.05, weightDecay: 0.01 });
      for (let i = 0; i < 6; i++) {
        if (split && i === 3) {
          const state = opt.state();
          const copy = {
            tensors: Object.fromEntries(Object.entries(state.tensors).map(([k, t]) => [k, t.add(0)])),
            meta: JSON.parse(JSON.stringify(state.meta)),
          };
          opt.dispose();
          opt = new AdamW([["w", p]], { lr: 0.05, weightDecay: 0.01 });
          opt.loadState(copy);
        }
        opt.zeroGrad();
        quadraticStep(p);
        opt.step();
      }
      return Array.from(await p.data());
    };
    expect(await run(true)).toEqual(await run(false));
  });

  it("names bad arguments", () => {
    const p = tensor([1]).requireGrad();
    expect(() => new AdamW([p], { betas: [0.9, 1] })).toThrow(/AdamW: betas\[1\] must be in \[0, 1\), got 1/);
    expect(
      () =>
        new AdamW([
          ["a", p],
          ["a", tensor([2]).requireGrad()],
        ]),
    ).toThrow(/parameter name "a" appears twice/);
    expect(() => new AdamW([])).toThrow(/expected at least one parameter/);
  });
});

describe("SGD", () => {
  it("follows torch.optim.SGD with momentum, dampening and weight decay", async () => {
    const start = [1, -2, 0.5, 0.25];
    const p = tensor(start).requireGrad();
    const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, weightDecay: 0.01 });
    let ref = [...start];
    let buf: number[] | null = null;
    for (let i = 0; i < 4; i++) {
      opt.zeroGrad();
      quadraticStep(p);
      opt.step();
      const g = ref.map((x, k) => coeffs[k]! * x + 0.01 * x);
      buf = buf ? buf.map((bk, k) => 0.9 * bk + 0.9 * g[k]!) : g;
      ref = ref.map((x, k) => x - 0.1 * buf![k]!);
    }
    Array.from(await p.data()).forEach((x, i) => expect(x).toBeCloseTo(ref[i]!, 5));
  });

  it("uses nesterov momentum when asked", async () => {
    const p = tensor([1, 1, 1, 1]).requireGrad();
    const opt = new SGD([p], { lr: 0.1, momentum: 0.5, nesterov: true });
    quadraticStep(p);
    opt.step();
    // First step: buf = g, update = g + 0.5 g.
    Array.from(await p.data()).forEach((x, i) => expect(x).toBeCloseTo(1 - 0.1 * 1.5 * coeffs[i]!, 6));
    expect(() => new SGD([p], { nesterov: true })).toThrow(/nesterov needs momentum > 0/);
  });
});
