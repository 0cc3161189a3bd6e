import type { BackendBuffer, StridedView, UnaryOp } from "../backend.js";
import { allocHost, type HostArray } from "../dtype.js";
import { CpuBuffer } from "./buffer.js";
import { cast, float32View, isHalf } from "./cast.js";
import { erf } from "./erf.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "./strided.js";
import { viewData } from "./buffer.js";

const SQRT_HALF = Math.SQRT1_2;
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

export function unary(op: UnaryOp, x: StridedView): BackendBuffer {
  const dtype = x.buffer.dtype;
  if (isHalf(dtype)) {
    const r = unary(op, float32View(x));
    return cast({ buffer: r, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
  }
  const src = viewData(x);
  const out = allocHost(dtype, sizeOf(x.shape));
  const runs = coalesce(x.shape, [contiguousStrides(x.shape), x.strides]);
  const isInt = dtype !== "float32";
  forEachRun(runs, [0, x.offset], (offs) => unaryRun(op, isInt, out, offs[0]!, src, offs[1]!, runs.inner[1]!, runs.n));
  return new CpuBuffer(out, dtype);
}

/** out[o..o+n) = op(a[i], a[i+s], ...). One tight loop per op: no per-element dispatch. */
function unaryRun(op: UnaryOp, isInt: boolean, out: HostArray, o: number, a: HostArray, i: number, s: number, n: number): void {
  const end = o + n;
  switch (op) {
    case "neg":
      for (; o < end; o++, i += s) out[o] = -a[i]!;
      return;
    case "abs":
      for (; o < end; o++, i += s) out[o] = Math.abs(a[i]!);
      return;
    case "sign":
      for (; o < end; o++, i += s) out[o] = Math.sign(a[i]!);
      return;
    case "exp":
      for (; o < end; o++, i += s) out[o] = Math.exp(a[i]!);
      return;
    case "log":
      for (; o < end; o++, i += s) out[o] = Math.log(a[i]!);
      return;
    case "sqrt":
      for (; o < end; o++, i += s) out[o] = Math.sqrt(a[i]!);
      return;
    case "rsqrt":
      for (; o < end; o++, i += s) out[o] = 1 / Math.sqrt(a[i]!);
      return;
    case "reciprocal":
      for (; o < end; o++, i += s) out[o] = 1 / a[i]!;
      return;
    case "tanh":
      for (; o < end; o++, i += s) out[o] = Math.tanh(a[i]!);
      return;
    case "erf":
      for (; o < end; o++, i += s) out[o] = erf(a[i]!);
      return;
    case "sin":
      for (; o < end; o++, i += s) out[o] = Math.sin(a[i]!);
      return;
    case "cos":
      for (; o < end; o++, i += s) out[o] = Math.cos(a[i]!);
      return;
    case "relu":
      // `v < 0 ? 0 : v` keeps NaN as NaN, like torch.
      for (; o < end; o++, i += s) {
        const v = a[i]!;
        out[o] = v < 0 ? 0 : v;
      }
      return;
    case "sigmoid":
      for (; o < end; o++, i += s) out[o] = 1 / (1 + Math.exp(-a[i]!));
      return;
    case "silu":
      for (; o < end; o++, i += s) {
        const v = a[i]!;
        out[o] = v / (1 + Math.exp(-v));
      }
      return;
    case "gelu":
      for (; o < end; o++, i += s) {
        const v = a[i]!;
        out[o] = 0.5 * v * (1 + erf(v * SQRT_HALF));
      }
      return;
    case "gelu_tanh":
      // 1 + tanh(u) = 2 - 2 / (e^(2u) + 1): one exp instead of Math.tanh (about twice as slow);
      // only the absolute error matters here and it stays near 1e-16.
      for (; o < end; o++, i += s) {
        const v = a[i]!;
        const e = Math.exp(2 * SQRT_2_OVER_PI * (v + 0.044715 * v * v * v));
        out[o] = v - v / (e + 1);
      }
      return;
    case "floor":
      if (isInt) for (; o < end; o++, i += s) out[o] = a[i]!;
      else for (; o < end; o++, i += s) out[o] = Math.floor(a[i]!);
      return;
    case "not":
      for (; o < end; o++, i += s) out[o] = a[i] === 0 ? 1 : 0;
      return;
    default:
      throw new Error(`cpu backend: unknown unary op '${op as string}'`);
  }
}
