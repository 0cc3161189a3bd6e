/**
 * The one-pass backward kernels (activationGrad for GELU/GELU-tanh/SiLU, logSoftmaxGrad) through
 * autograd on WebGPU, against the backward the CPU backend composes from forward ops when its own
 * fused backwards are taken away: contiguous and transposed inputs, saturated tails, a masked class.
 */
import { describe, expect, it } from "vitest";
import { CpuBackend, Rng, adamwStep, cpuBackend, tensor, type Backend, type FusedKernels, type Tensor } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";
import { expectClose } from "./helpers/reference.js";

reportSkip();

class ComposedCpuBackend extends CpuBackend {
  override readonly fused: FusedKernels = { ...cpuBackend.fused, activationGrad: undefined, logSoftmaxGrad: undefined };
}
const composed = new ComposedCpuBackend();

const rows = 6;
const cols = 37;
const rng = new Rng(3);
const xs = Array.from({ length: rows * cols }, () => rng.normal() * 3);
xs.splice(0, 6, -30, -9.5, 0, 1e-4, 9.5, 30);
const ws = Array.from({ length: rows * cols }, () => rng.normal());

async function gradOf(b: Backend, f: (x: Tensor) => Tensor, strided: boolean, data = xs): Promise<number[]> {
  const leaf = tensor(data, { shape: strided ? [cols, rows] : [rows, cols], backend: b, requiresGrad: true });
  const x = strided ? leaf.transpose(0, 1) : leaf;
  f(x)
    .mul(tensor(ws, { shape: [rows, cols], backend: b }))
    .sum()
    .backward();
  const g = Array.from(await leaf.grad!.data());
  leaf.grad!.dispose();
  return g;
}

describe.skipIf(!backend)("webgpu fused backward kernels agree with the composed backward", () => {
  const cases: Array<[string, (x: Tensor) => Tensor]> = [
    ["gelu (erf)", (x) => x.gelu()],
    ["gelu (tanh)", (x) => x.gelu("tanh")],
    ["silu", (x) => x.silu()],
    ["logSoftmax", (x) => x.logSoftmax(-1)],
    ["logSoftmax over axis 0", (x) => x.logSoftmax(0)],
  ];
  for (const [name, f] of cases) {
    for (const strided of [false, true]) {
      it(`${name}${strided ? ", transposed input" : ""}`, async () => {
        expect(backend!.fused?.activationGrad && backend!.fused?.logSoftmaxGrad).toBeTruthy();
        expectClose(await gradOf(backend!, f, strided), await gradOf(composed, f, strided), 2e-5, name);
      });
    }
  }

  it("logSoftmax with a masked (-Infinity) class gives it zero gradient", async () => {
    const data = xs.map((v, i) => (i % cols === 3 ? -Infinity : v));
    const f = (x: Tensor) => x.logSoftmax(-1).maximum(-1e30);
    const got = await gradOf(backend!, f, false, data);
    expect(got[3]).toBe(0);
    expectClose(got, await gradOf(composed, f, false, data), 2e-5, "masked logSoftmax");
  });
});

/** The CPU backend without the fused norm backwards and AdamW: the ops autograd composes instead. */
class ComposedNormCpuBackend extends CpuBackend {
  override readonly fused: FusedKernels = { ...cpuBackend.fused, layerNormGrad: undefined, rmsNormGrad: undefined, adamwStep: undefined };
}
const composedNorm = new ComposedNormCpuBackend();

interface NormCase {
  name: string;
  rows: number;
  cols: number;
  weight: boolean;
  bias: boolean;
  transposed: boolean;
  rms: boolean;
}

/** dx, dweight and dbias of sum(norm(x) * r) on `b`, x drawn with an offset so the mean matters. */
async function normGrads(b: Backend, c: NormCase): Promise<number[][]> {
  const r = new Rng(11);
  const n = c.rows * c.cols;
  const x = Array.from({ length: n }, () => r.normal() * 2 + 0.7);
  const ws = Array.from({ length: n }, () => r.normal());
  const w = Array.from({ length: c.cols }, () => 1 + r.normal() * 0.3);
  const bi = Array.from({ length: c.cols }, () => r.normal() * 0.1);
  const leaf = tensor(x, { shape: c.transposed ? [c.cols, c.rows] : [c.rows, c.cols], backend: b, requiresGrad: true });
  const weight = c.weight ? tensor(w, { backend: b, requiresGrad: true }) : null;
  const bias = c.bias ? tensor(bi, { backend: b, requiresGrad: true }) : null;
  const xin = c.transposed ? leaf.transpose(0, 1) : leaf;
  const y = c.rms ? xin.rmsNorm(weight, 1e-6) : xin.layerNorm(weight, bias, 1e-5);
  y.mul(tensor(ws, { shape: [c.rows, c.cols], backend: b }))
    .sum()
    .backward();
  const out: number[][] = [];
  for (const t of [leaf, weight, bias]) if (t) out.push(Array.from(await t.grad!.data()));
  return out;
}

/** |a - e| <= rel |e| everywhere (moments can be 1e-6 small, so no absolute floor). */
function expectRelative(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (!(Math.abs(a - e) <= rel * Math.abs(e))) throw new Error(`${what}: element ${i} is ${a}, expected ${e} (relative ${rel})`);
  }
}

describe.skipIf(!backend)("webgpu layerNorm/rmsNorm backwards and AdamW agree with the composed path", () => {
  const cases: NormCase[] = [
    { name: "layerNorm, weight and bias", rows: 6, cols: 37, weight: true, bias: true, transposed: false, rms: false },
    { name: "layerNorm, no affine, transposed input", rows: 6, cols: 37, weight: false, bias: false, transposed: true, rms: false },
    {
      name: "layerNorm, weight only, 300 rows (5 row chunks)",
      rows: 300,
      cols: 70,
      weight: true,
      bias: false,
      transposed: false,
      rms: false,
    },
    { name: "layerNorm, bias only, wide rows (1100)", rows: 3, cols: 1100, weight: false, bias: true, transposed: false, rms: false },
    { name: "rmsNorm, weight", rows: 6, cols: 37, weight: true, bias: false, transposed: false, rms: true },
    { name: "rmsNorm, weight, transposed, 130 rows", rows: 130, cols: 33, weight: true, bias: false, transposed: true, rms: true },
    { name: "rmsNorm, no weight", rows: 5, cols: 64, weight: false, bias: false, transposed: false, rms: true },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      expect(backend!.fused?.layerNormGrad && backend!.fused?.rmsNormGrad).toBeTruthy();
      const got = await normGrads(backend!, c);
      const want = await normGrads(composedNorm, c);
      expect(got.length).toBe(1 + (c.weight ? 1 : 0) + (c.bias ? 1 : 0));
      got.forEach((g, i) => expectClose(g, want[i]!, 2e-5, `${c.name} gradient ${i}`));
    });
  }

  it("adamwStep: first and later steps, strided operands, with and without weight decay", async () => {
    expect(backend!.fused?.adamwStep).toBeTruthy();
    const r = new Rng(5);
    const n = 23 * 41;
    const p0 = Array.from({ length: n }, () => r.normal());
    const grads = [0, 1, 2].map(() => Array.from({ length: n }, () => r.normal() * 0.1));
    grads[0]!.splice(0, 3, 0, 1e-30, -5);
    async function run(b: Backend, weightDecay: number): Promise<number[][]> {
      // the parameter transposed, so the kernel walks a strided view
      let p = tensor(p0, { shape: [41, 23], backend: b }).transpose(0, 1);
      let m: Tensor | null = null;
      let v: Tensor | null = null;
      for (let step = 1; step <= 3; step++) {
        const g = tensor(grads[step - 1]!, { shape: [23, 41], backend: b });
        const h = { lr: 1e-2, weightDecay, beta1: 0.9, beta2: 0.95, eps: 1e-8, step };
        const res = adamwStep(p, g, m, v, h);
        ({ param: p, expAvg: m, expAvgSq: v } = res);
      }
      return [Array.from(await p.data()), Array.from(await m!.data()), Array.from(await v!.data())];
    }
    for (const wd of [0, 0.1]) {
      const got = await run(backend!, wd);
      const fused = await run(cpuBackend, wd);
      const composedRun = await run(composedNorm, wd);
      for (const [name, want] of [
        ["CPU fused", fused],
        ["composed", composedRun],
      ] as const) {
        // float32 per op on both sides; WGSL's division and sqrt may differ from IEEE by an ulp or two
        for (let i = 0; i < 3; i++) expectRelative(got[i]!, want[i]!, 1e-6, `adamw wd=${wd} output ${i} vs ${name}`);
      }
    }
  });
});
