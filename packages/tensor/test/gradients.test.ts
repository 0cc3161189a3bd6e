import { describe, test } from "vitest";
import { concat, layerNorm, rmsNorm, scatterAdd, split, stack, tensor, tril, where, type Tensor } from "../src/index.js";
import { gradcheck } from "./gradcheck.js";

const S = (...shape: number[]) => ({ shape });
const P = (...shape: number[]) => ({ shape, positive: true });

describe("every differentiable op matches finite differences", () => {
  const unary: [string, (x: Tensor) => Tensor, boolean?][] = [
    ["neg", (x) => x.neg()],
    ["abs", (x) => x.abs()],
    ["exp", (x) => x.exp()],
    ["log", (x) => x.log(), true],
    ["sqrt", (x) => x.sqrt(), true],
    ["rsqrt", (x) => x.rsqrt(), true],
    ["reciprocal", (x) => x.reciprocal(), true],
    ["tanh", (x) => x.tanh()],
    ["erf", (x) => x.erf()],
    ["sin", (x) => x.sin()],
    ["cos", (x) => x.cos()],
    ["relu", (x) => x.relu()],
    ["sigmoid", (x) => x.sigmoid()],
    ["silu", (x) => x.silu()],
    ["gelu", (x) => x.gelu()],
    ["gelu tanh", (x) => x.gelu("tanh")],
    ["square", (x) => x.square()],
  ];
  for (const [name, f, positive] of unary) {
    test(name, () => gradcheck(f, [positive ? P(3, 4) : S(3, 4)]));
  }

  const binary: [string, (a: Tensor, b: Tensor) => Tensor, boolean?][] = [
    ["add", (a, b) => a.add(b)],
    ["sub", (a, b) => a.sub(b)],
    ["mul", (a, b) => a.mul(b)],
    ["div", (a, b) => a.div(b), true],
    ["pow", (a, b) => a.pow(b), true],
  ];
  for (const [name, f, positive] of binary) {
    test(`${name} with broadcasting`, () => gradcheck(f, positive ? [P(2, 3, 4), P(3, 1)] : [S(2, 3, 4), S(3, 1)]));
  }
  // maximum/minimum have kinks where a == b: keep the inputs 0.05 apart so differences stay one-sided.
  const grid = { shape: [2, 3, 4], values: Array.from({ length: 24 }, (_, i) => i * 0.1 - 1.15) };
  const offsets = { shape: [3, 1], values: [0.0, 0.5, -0.4] };
  test("maximum with broadcasting", () => gradcheck((a, b) => a.maximum(b), [grid, offsets]));
  test("minimum with broadcasting", () => gradcheck((a, b) => a.minimum(b), [grid, offsets]));
  test("scalar operands", () => gradcheck((a) => a.mul(3).add(1).div(2).sub(0.5).pow(2), [S(5)]));

  test("sum over axes", () => gradcheck((x) => x.sum([0, 2]), [S(2, 3, 4)]));
  test("sum keepdim", () => gradcheck((x) => x.sum(1, true), [S(2, 3, 4)]));
  test("mean", () => gradcheck((x) => x.mean(-1), [S(2, 3, 4)]));
  test("max", () => gradcheck((x) => x.max(1), [S(3, 5)]));
  test("min", () => gradcheck((x) => x.min(0), [S(3, 5)]));
  test("prod", () => gradcheck((x) => x.prod(1), [P(3, 4)]));
  test("var", () => gradcheck((x) => x.var(-1, false, true), [S(3, 5)]));

  test("softmax", () => gradcheck((x) => x.softmax(-1), [S(3, 5)]));
  test("softmax on axis 0", () => gradcheck((x) => x.softmax(0), [S(3, 5)]));
  test("logSoftmax", () => gradcheck((x) => x.logSoftmax(), [S(3, 5)]));
  test("layerNorm with weight and bias", () => gradcheck((x, w, b) => layerNorm(x, w, b, 1e-5), [S(3, 6), S(6), S(6)]));
  test("layerNorm without affine", () => gradcheck((x) => x.layerNorm(null, null), [S(2, 2, 6)]));
  test("rmsNorm", () => gradcheck((x, w) => rmsNorm(x, w, 1e-6), [S(3, 6), S(6)]));

  test("matmul", () => gradcheck((a, b) => a.matmul(b), [S(3, 4), S(4, 5)]));
  test("batched matmul with broadcast batch", () => gradcheck((a, b) => a.matmul(b), [S(2, 3, 4), S(4, 2)]));
  test("matmul of transposed views", () => gradcheck((a, b) => a.transpose().matmul(b.transpose()), [S(4, 3), S(5, 4)]));
  test("matmul with vectors", () => gradcheck((a, b) => a.matmul(b), [S(4), S(4, 3)]));

  test("reshape", () => gradcheck((x) => x.reshape(4, -1).mul(x.reshape(4, 3)), [S(2, 6)]));
  test("permute", () => gradcheck((x) => x.permute(2, 0, 1).contiguous(), [S(2, 3, 4)]));
  test("slice with step", () => gradcheck((x) => x.slice(1, 1, 6, 2), [S(2, 7)]));
  test("narrow then reshape", () => gradcheck((x) => x.narrow(0, 1, 2).reshape(-1), [S(4, 3)]));
  test("expand", () => gradcheck((x) => x.expand(2, 3, 4), [S(3, 1)]));
  test("unsqueeze and squeeze", () => gradcheck((x) => x.unsqueeze(1).mul(2).squeeze(1), [S(3, 4)]));
  test("flip", () => gradcheck((x) => x.flip(1).mul(tensor([1, 2, 3, 4])), [S(3, 4)]));
  test("take (embedding lookup)", () => gradcheck((w) => w.take(tensor(new Int32Array([2, 0, 2, 3]), { shape: [2, 2] })), [S(4, 3)]));
  test("take along axis 1", () => gradcheck((w) => w.take(tensor(new Int32Array([1, 1, 0])), 1), [S(2, 3)]));
  test("takeAlongAxis", () => gradcheck((x) => x.takeAlongAxis(tensor(new Int32Array([2, 0, 1, 1]), { shape: [2, 2] }), 1), [S(2, 3)]));
  test("scatterAdd", () => gradcheck((u) => scatterAdd(u, tensor(new Int32Array([1, 1, 0])), 0, [3, 2]), [S(3, 2)]));
  test("cumsum", () => gradcheck((x) => x.cumsum(1), [S(2, 5)]));
  test("concat", () => gradcheck((a, b) => concat([a, b, a], 1), [S(2, 2), S(2, 3)]));
  test("stack", () => gradcheck((a, b) => stack([a, b], 1), [S(2, 3), S(2, 3)]));
  test("split", () =>
    gradcheck(
      (x) => {
        const [a, b] = split(x, [1, 3], 1);
        return a!.mul(b!.sum(1, true));
      },
      [S(2, 4)],
    ));
  test("where", () => gradcheck((a, b) => where(tensor([[true, false, true]]), a, b), [S(2, 3), S(2, 1)]));
  test("maskedFill", () => gradcheck((x) => x.maskedFill(tensor([false, true, false]), -1), [S(2, 3)]));
  test("tril", () => gradcheck((x) => tril(x), [S(3, 3)]));
  test("a tensor used twice accumulates", () => gradcheck((x) => x.mul(x.exp()).add(x), [S(4)]));
});
