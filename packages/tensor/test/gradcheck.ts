import { expect } from "vitest";
import { Rng, noGrad, tensor, type Tensor } from "../src/index.js";

/**
 * Checks the gradient autograd computes for `f` against central finite differences. The scalar
 * differentiated is sum(f(inputs) * R) with a fixed random R, so every output element matters.
 */
export async function gradcheck(
  f: (...inputs: Tensor[]) => Tensor,
  inputs: { shape: number[]; values?: number[]; positive?: boolean }[],
  { eps = 1e-2, atol = 5e-3, rtol = 2e-2, seed = 0 } = {},
): Promise<void> {
  const rng = new Rng(seed);
  const hostInputs = inputs.map(({ shape, values, positive }) => {
    const n = shape.reduce((a, b) => a * b, 1);
    return Float32Array.from(values ?? Array.from({ length: n }, () => (positive ? 0.5 + rng.uniform() : rng.normal())));
  });
  const leaves = hostInputs.map((v, i) => tensor(v, { shape: inputs[i]!.shape, requiresGrad: true }));
  const out = f(...leaves);
  const weights = Float32Array.from({ length: out.size }, () => rng.normal());
  const w = tensor(weights, { shape: [...out.shape] });
  out.mul(w).sum().backward();

  // Reads with await, not dataSync, so the suite runs on backends without synchronous reads.
  const scalarAt = async (values: Float32Array[]): Promise<number> => {
    const y = noGrad(() => f(...values.map((v, i) => tensor(v, { shape: inputs[i]!.shape }))));
    const data = await y.data();
    let s = 0;
    for (let k = 0; k < data.length; k++) s += data[k]! * weights[k]!;
    return s;
  };

  for (let i = 0; i < leaves.length; i++) {
    const analytic = leaves[i]!.grad ? ((await leaves[i]!.grad!.data()) as Float32Array) : new Float32Array(hostInputs[i]!.length);
    for (let k = 0; k < hostInputs[i]!.length; k++) {
      const plus = hostInputs.map((v) => v.slice());
      const minus = hostInputs.map((v) => v.slice());
      plus[i]![k]! += eps;
      minus[i]![k]! -= eps;
      const numeric = ((await scalarAt(plus)) - (await scalarAt(minus))) / (2 * eps);
      const a = analytic[k]!;
      if (Math.abs(a - numeric) > atol + rtol * Math.abs(numeric)) {
        expect.fail(`input ${i}, element ${k}: autograd gives ${a}, finite differences give ${numeric}`);
      }
    }
  }
}
