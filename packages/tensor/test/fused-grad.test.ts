import { describe, expect, test } from "vitest";
import { CpuBackend, Rng, cpuBackend, layerNorm, rmsNorm, tensor, type Backend, type FusedKernels, type Tensor } from "../src/index.js";

// The one-pass backward kernels (FusedKernels.activationGrad, logSoftmaxGrad) against the
// backward autograd composes from forward ops, on the same inputs: contiguous and strided
// (transposed) inputs, tails where the activations saturate, and a -Infinity log-probability.

/** The CPU backend without the fused backward kernels, so autograd composes them. */
class ComposedCpuBackend extends CpuBackend {
  override readonly fused: FusedKernels = {
    ...cpuBackend.fused,
    activationGrad: undefined,
    logSoftmaxGrad: undefined,
    layerNormGrad: undefined,
    rmsNormGrad: undefined,
  };
}
const composed = new ComposedCpuBackend();

function values(n: number, seed: number, scale: number): number[] {
  const rng = new Rng(seed);
  const out = Array.from({ length: n }, () => rng.normal() * scale);
  // saturated tails and exact zeros
  out.splice(0, 6, -30, -9, 0, 1e-4, 9, 30);
  return out;
}

/** d sum(f(x) * w) / dx on `backend`, x [rows, cols] read transposed when `strided`. */
function gradOf(
  backend: Backend,
  f: (x: Tensor) => Tensor,
  xs: number[],
  ws: number[],
  rows: number,
  cols: number,
  strided: boolean,
): Float32Array {
  const leaf = tensor(xs, { shape: strided ? [cols, rows] : [rows, cols], backend, requiresGrad: true });
  const x = strided ? leaf.transpose(0, 1) : leaf;
  f(x)
    .mul(tensor(ws, { shape: [rows, cols], backend }))
    .sum()
    .backward();
  return leaf.grad!.dataSync() as Float32Array;
}

const close = (got: Float32Array, want: Float32Array, tol: number) => {
  expect(got.length).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    const err = Math.abs(got[i]! - want[i]!);
    if (!(err <= tol * Math.max(1, Math.abs(want[i]!)))) expect.fail(`element ${i}: fused ${got[i]}, composed ${want[i]}`);
  }
};

describe("fused backward kernels agree with the composed backward", () => {
  const rows = 7;
  const cols = 13;
  const xs = values(rows * cols, 1, 3);
  const ws = values(rows * cols, 2, 1);
  const cases: Array<[string, (x: Tensor) => Tensor]> = [
    ["gelu (erf)", (x) => x.gelu()],
    ["gelu (tanh)", (x) => x.gelu("tanh")],
    ["silu", (x) => x.silu()],
    ["logSoftmax", (x) => x.logSoftmax(-1)],
    ["logSoftmax over axis 0", (x) => x.logSoftmax(0)],
  ];
  for (const [name, f] of cases) {
    for (const strided of [false, true]) {
      test(`${name}${strided ? ", transposed input" : ""}`, () => {
        expect(cpuBackend.fused?.activationGrad && cpuBackend.fused?.logSoftmaxGrad).toBeTruthy();
        close(gradOf(cpuBackend, f, xs, ws, rows, cols, strided), gradOf(composed, f, xs, ws, rows, cols, strided), 2e-6);
      });
    }
  }

  // norms: the gradients of x, weight and bias, with and without the parameters
  const w = values(cols, 3, 1);
  const b = values(cols, 4, 1);
  for (const [name, params] of [
    ["layerNorm with weight and bias", "wb"],
    ["layerNorm with weight only", "w"],
    ["layerNorm with bias only", "b"],
    ["layerNorm without parameters", ""],
    ["rmsNorm with weight", "w"],
    ["rmsNorm without weight", ""],
  ] as const) {
    for (const strided of [false, true]) {
      test(`${name}${strided ? ", transposed input" : ""}`, () => {
        const grads = (backend: Backend) => {
          const leaf = tensor(xs, { shape: strided ? [cols, rows] : [rows, cols], backend, requiresGrad: true });
          const x = strided ? leaf.transpose(0, 1) : leaf;
          const weight = params.includes("w") ? tensor(w, { backend, requiresGrad: true }) : null;
          const bias = params.includes("b") ? tensor(b, { backend, requiresGrad: true }) : null;
          const y = name.startsWith("layerNorm") ? layerNorm(x, weight, bias, 1e-5) : rmsNorm(x, weight, 1e-6);
          y.mul(tensor(ws, { shape: [rows, cols], backend }))
            .sum()
            .backward();
          return [leaf, weight, bias].filter((t) => t !== null).map((t) => t!.grad!.dataSync() as Float32Array);
        };
        const fused = grads(cpuBackend);
        const comp = grads(composed);
        expect(fused.length).toBe(comp.length);
        fused.forEach((f, i) => close(f, comp[i]!, 5e-6));
      });
    }
  }

  test("logSoftmax with a -Infinity entry (a masked class) gives it zero gradient", () => {
    const xs2 = [0.5, -Infinity, 2, 1, 0, -1];
    const ws2 = [1, 1, 1, 0.5, 2, -1];
    const fused = gradOf(cpuBackend, (x) => x.logSoftmax(-1).maximum(-1e30), xs2, ws2, 2, 3, false);
    const comp = gradOf(composed, (x) => x.logSoftmax(-1).maximum(-1e30), xs2, ws2, 2, 3, false);
    expect(fused[1]).toBe(0);
    close(fused, comp, 2e-6);
  });
});
