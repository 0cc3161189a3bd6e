/**
 * Autograd on WebGPU: for each differentiable op, the forward value and every input's gradient
 * equal the CPU backend's. Gradients are composed from backend primitives, so this exercises the
 * kernels the way training does (broadcast reductions, scatterAdd, strided views).
 */
import { describe, it } from "vitest";
import {
  concat,
  cpuBackend,
  layerNorm,
  rmsNorm,
  scatterAdd,
  setBackend,
  softmax,
  stack,
  tensor,
  where,
  Rng,
  type Backend,
  type Tensor,
} from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";
import { expectClose } from "./helpers/reference.js";

reportSkip();

type Spec = { shape: number[]; positive?: boolean };
const S = (...shape: number[]): Spec => ({ shape });
const P = (...shape: number[]): Spec => ({ shape, positive: true });

async function run(be: Backend, f: (...xs: Tensor[]) => Tensor, inputs: Float32Array[], specs: Spec[], weights: Float32Array) {
  setBackend(be);
  const leaves = inputs.map((v, i) => tensor(v, { shape: specs[i]!.shape, requiresGrad: true }));
  const out = f(...leaves);
  out
    .mul(tensor(weights, { shape: [...out.shape] }))
    .sum()
    .backward();
  const value = await out.data();
  const grads = await Promise.all(leaves.map(async (l) => (l.grad ? await l.grad.data() : new Float32Array(l.size))));
  return { value, grads };
}

async function compare(f: (...xs: Tensor[]) => Tensor, specs: Spec[]): Promise<void> {
  const rng = new Rng(1);
  const inputs = specs.map((s) =>
    Float32Array.from({ length: s.shape.reduce((a, b) => a * b, 1) }, () => (s.positive ? 0.5 + rng.uniform() : rng.normal())),
  );
  setBackend(cpuBackend);
  const probe = f(...inputs.map((v, i) => tensor(v, { shape: specs[i]!.shape })));
  const weights = Float32Array.from({ length: probe.size }, () => rng.normal());
  const cpu = await run(cpuBackend, f, inputs, specs, weights);
  const gpu = await run(backend!, f, inputs, specs, weights);
  setBackend(cpuBackend);
  expectClose(gpu.value as Float32Array, cpu.value as Float32Array, 1e-5, "forward value");
  gpu.grads.forEach((g, i) => expectClose(g, cpu.grads[i]!, 1e-4, `gradient of input ${i}`));
}

describe.skipIf(!backend)("gradients on WebGPU equal the CPU backend's", () => {
  const cases: [string, (...xs: Tensor[]) => Tensor, Spec[]][] = [
    ["unary chain", (x) => x.exp().mul(x.tanh()).add(x.sigmoid()).add(x.silu()).add(x.gelu()).add(x.gelu("tanh")).add(x.erf()), [S(3, 4)]],
    ["log/sqrt/rsqrt/reciprocal", (x) => x.log().add(x.sqrt()).add(x.rsqrt()).add(x.reciprocal()), [P(3, 4)]],
    ["sin/cos/abs/relu/neg/square", (x) => x.sin().add(x.cos()).add(x.abs()).add(x.relu()).sub(x.neg()).add(x.square()), [S(3, 4)]],
    ["broadcast add/sub/mul/div/pow", (a, b) => a.add(b).mul(a.sub(b)).div(b).add(a.pow(b)), [P(2, 3, 4), P(3, 1)]],
    ["maximum/minimum", (a, b) => a.maximum(b).add(a.minimum(b)), [S(2, 3, 4), S(3, 1)]],
    [
      "sum/mean/max/min/prod/var",
      (x) =>
        x
          .sum([0, 2])
          .add(x.mean([0, 2]))
          .add(x.max(2).sum(0))
          .add(x.min(0).sum(1))
          .add(x.prod(2).sum(0))
          .add(x.var(-1).sum(0)),
      [P(2, 3, 4)],
    ],
    ["softmax/logSoftmax", (x) => softmax(x, 0).add(x.logSoftmax()), [S(3, 5)]],
    ["layerNorm/rmsNorm", (x, w, b) => layerNorm(x, w, b, 1e-5).add(rmsNorm(x, w, 1e-6)), [S(3, 6), S(6), S(6)]],
    ["batched matmul of transposed views", (a, b) => a.transpose().matmul(b), [S(2, 4, 3), S(4, 5)]],
    ["matmul with a vector", (a, b) => a.matmul(b), [S(4), S(4, 3)]],
    [
      "views: permute/slice/expand/flip",
      (x) =>
        x
          .permute(2, 0, 1)
          .slice(0, 1, 4, 2)
          .flip(1)
          .add(x.sum(2).expand(2, 2, 3)),
      [S(2, 3, 4)],
    ],
    [
      "take/takeAlongAxis/scatterAdd",
      (w) =>
        w
          .take(tensor(new Int32Array([2, 0, 2, 3]), { shape: [2, 2] }))
          .sum(1)
          .add(
            scatterAdd(
              w.takeAlongAxis(tensor(new Int32Array([2, 0, 1, 1, 0, 2, 2, 2]), { shape: [4, 2] }), 1),
              tensor(new Int32Array([1, 1, 0, 3])),
              0,
              [4, 2],
            )
              .narrow(0, 0, 2)
              .sum(),
          ),
      [S(4, 3)],
    ],
    [
      "cumsum/concat/stack/where/maskedFill",
      (a, b) =>
        concat([a.cumsum(1), where(tensor([[true, false, true]]), a, b)], 0).add(
          stack([a, a], 0)
            .sum(0)
            .maskedFill(tensor([false, true, false]), -1)
            .sum(),
        ),
      [S(2, 3), S(2, 1)],
    ],
  ];
  for (const [name, f, specs] of cases) it(name, () => compare(f, specs));
});
