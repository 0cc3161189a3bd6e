/**
 * The one-pass backward kernels (activationGrad for GELU/GELU-tanh/SiLU, logSoftmaxGrad) through
 * autograd on WebGPU, against the backward the CPU backend composes from forward ops when its own
 * fused backwards are taken away: contiguous and transposed inputs, saturated tails, a masked class.
 */
import { describe, expect, it } from "vitest";
import { CpuBackend, Rng, cpuBackend, tensor, type Backend, type FusedKernels, type Tensor } from "@llm/tensor";
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
