import type { BackendBuffer, StridedView, UnaryOp } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { allocUninit } from "../pool.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { cast, float32View, isHalf } from "./cast.js";
import { erf } from "./erf.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "../strided.js";
import { geluTanhWasm, siluWasm } from "../wasm/activations.js";

const SQRT_HALF = Math.SQRT1_2;
const TWO_SQRT_2_OVER_PI = 2 * Math.sqrt(2 / Math.PI);

export function unary(op: UnaryOp, x: StridedView, wasm = true): BackendBuffer {
  const dtype = x.buffer.dtype;
  if (isHalf(dtype)) {
    const r = unary(op, float32View(x), wasm);
    return cast({ buffer: r, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
  }
  const run = (dtype === "float32" ? undefined : INT_RUNS[op]) ?? RUNS[op];
  if (run === undefined) throw new Error(`cpu backend: unknown unary op '${op as string}'`);
  const src = viewData(x);
  const out = allocUninit(dtype, sizeOf(x.shape));
  const runs = coalesce(x.shape, [contiguousStrides(x.shape), x.strides]);
  const s = runs.inner[1]!;
  // GELU (tanh) and SiLU are exp-bound: the WASM SIMD kernels take contiguous float32 runs
  const simd = wasm && dtype === "float32" && s === 1 ? (op === "gelu_tanh" ? geluTanhWasm : op === "silu" ? siluWasm : null) : null;
  forEachRun(runs, [0, x.offset], (offs) => {
    if (simd && simd(src as Float32Array, offs[1]!, out as Float32Array, offs[0]!, runs.n)) return;
    run(out, offs[0]!, src, offs[1]!, s, runs.n);
  });
  return new CpuBuffer(out, dtype);
}

/** out[o + t] = op(a[i + t*s]) for t < n. */
type Run = (out: HostArray, o: number, a: HostArray, i: number, s: number, n: number) => void;

// One small function per op (not one switch) so V8 optimises each independently: the first use of
// a new op does not deoptimise the loops of the others.
const RUNS: Record<UnaryOp, Run> = {
  neg: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = -a[i]!;
  },
  abs: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.abs(a[i]!);
  },
  sign: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.sign(a[i]!);
  },
  exp: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.exp(a[i]!);
  },
  log: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.log(a[i]!);
  },
  sqrt: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.sqrt(a[i]!);
  },
  rsqrt: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = 1 / Math.sqrt(a[i]!);
  },
  reciprocal: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = 1 / a[i]!;
  },
  tanh: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.tanh(a[i]!);
  },
  erf: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = erf(a[i]!);
  },
  sin: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.sin(a[i]!);
  },
  cos: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.cos(a[i]!);
  },
  relu: (out, o, a, i, s, n) => {
    // `v < 0 ? 0 : v` keeps NaN as NaN, like torch.
    for (const end = o + n; o < end; o++, i += s) {
      const v = a[i]!;
      out[o] = v < 0 ? 0 : v;
    }
  },
  sigmoid: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = 1 / (1 + Math.exp(-a[i]!));
  },
  silu: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) {
      const v = a[i]!;
      out[o] = v / (1 + Math.exp(-v));
    }
  },
  gelu: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) {
      const v = a[i]!;
      out[o] = 0.5 * v * (1 + erf(v * SQRT_HALF));
    }
  },
  gelu_tanh: (out, o, a, i, s, n) => {
    // 0.5 v (1 + tanh(u)) = v - v / (e^(2u) + 1): one exp instead of Math.tanh (about twice as
    // slow); only the absolute error of tanh matters here and it stays near 1e-16.
    for (const end = o + n; o < end; o++, i += s) {
      const v = a[i]!;
      out[o] = v - v / (Math.exp(TWO_SQRT_2_OVER_PI * (v + 0.044715 * v * v * v)) + 1);
    }
  },
  floor: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = Math.floor(a[i]!);
  },
  not: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = +(a[i] === 0);
  },
};

// Integers are their own floor.
const INT_RUNS: Partial<Record<UnaryOp, Run>> = {
  floor: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = a[i]!;
  },
};
