/**
 * Elementwise kernels, one strided loop per op: Backend.binary, where and unary (the WebGPU
 * backend has the same in webgpu/src/kernels/elementwise.ts).
 */
import type { BackendBuffer, BinaryOp, StridedView, UnaryOp } from "../../backend.js";
import type { DType, HostArray } from "../../dtype.js";
import { allocUninit } from "../pool.js";
import { f32Run } from "./binary_f32.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { cast, float32View, isHalf } from "./cast.js";
import { erf } from "./erf.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "../strided.js";
import { geluTanhWasm, siluWasm } from "../wasm/activations.js";
import { residentBinary, residentUnary } from "../resident/elementwise.js";

const COMPARISONS = new Set<BinaryOp>(["eq", "ne", "lt", "le", "gt", "ge", "and", "or"]);

export function binaryOutDtype(op: BinaryOp, dtype: DType): DType {
  return COMPARISONS.has(op) ? "bool" : dtype;
}

export function binary(op: BinaryOp, a: StridedView, b: StridedView): BackendBuffer {
  const dtype = a.buffer.dtype;
  if (isHalf(dtype)) {
    const r = binary(op, float32View(a), float32View(b));
    if (r.dtype === "bool") return r;
    return cast({ buffer: r, shape: a.shape, strides: contiguousStrides(a.shape), offset: 0 }, dtype);
  }
  const resident = dtype === "float32" ? residentBinary(op, a, b) : null;
  if (resident) return new CpuBuffer(resident, dtype);
  const outDtype = binaryOutDtype(op, dtype);
  const out = allocUninit(outDtype, sizeOf(a.shape));
  const A = viewData(a);
  const B = viewData(b);
  // Coalescing turns the common cases into long runs: contiguous + contiguous is one run, a scalar
  // is stride 0, a row vector broadcast over the last axis is [rows, cols] with b's row stride 0.
  const runs = coalesce(a.shape, [contiguousStrides(a.shape), a.strides, b.strides]);
  const [, sa, sb] = runs.inner as [number, number, number];
  const n = runs.n;
  const fast = dtype === "float32" ? f32Run(op, sa, sb) : undefined;
  if (fast !== undefined) {
    const [o32, a32, b32] = [out as Float32Array, A as Float32Array, B as Float32Array];
    forEachRun(runs, [0, a.offset, b.offset], (offs) => fast(o32, offs[0]!, a32, offs[1]!, b32, offs[2]!, n));
    return new CpuBuffer(out, outDtype);
  }
  const run = (dtype === "int32" ? INT_BINARY_RUNS[op] : undefined) ?? BINARY_RUNS[op];
  if (run === undefined) throw new Error(`cpu backend: unknown binary op '${op as string}'`);
  forEachRun(runs, [0, a.offset, b.offset], (offs) => run(out, offs[0]!, A, offs[1]!, sa, B, offs[2]!, sb, n));
  // Arithmetic on bools stays bool (add is or, mul is and, like torch): keep the values 0/1.
  if (dtype === "bool" && outDtype === "bool") for (let i = 0; i < out.length; i++) out[i] = out[i] !== 0 ? 1 : 0;
  return new CpuBuffer(out, outDtype);
}

/** out[o + t] = a[i + t*sa] op b[j + t*sb] for t < n. */
type BinaryRun = (out: HostArray, o: number, a: HostArray, i: number, sa: number, b: HostArray, j: number, sb: number, n: number) => void;

// One small function per op rather than one switch: V8 optimises each on its own, so the first use
// of a new op does not throw away (deoptimise) the compiled loops of all the others. Comparisons
// are written `+(x < y)`: V8 compiles that without a branch, 5x faster than `x < y ? 1 : 0` on
// unpredictable data.
const BINARY_RUNS: Record<BinaryOp, BinaryRun> = {
  add: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = a[i]! + b[j]!;
  },
  sub: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = a[i]! - b[j]!;
  },
  mul: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = a[i]! * b[j]!;
  },
  div: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = a[i]! / b[j]!;
  },
  pow: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = a[i]! ** b[j]!;
  },
  maximum: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = Math.max(a[i]!, b[j]!);
  },
  minimum: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = Math.min(a[i]!, b[j]!);
  },
  eq: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i] === b[j]);
  },
  ne: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i] !== b[j]);
  },
  lt: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i]! < b[j]!);
  },
  le: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i]! <= b[j]!);
  },
  gt: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i]! > b[j]!);
  },
  ge: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i]! >= b[j]!);
  },
  and: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i] !== 0) & +(b[j] !== 0);
  },
  or: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = +(a[i] !== 0) | +(b[j] !== 0);
  },
};

// int32 needs its own product and quotient: a double product loses the low bits before wrapping,
// and integer division truncates toward zero (as in C and WGSL; division by zero gives 0).
const INT_BINARY_RUNS: Partial<Record<BinaryOp, BinaryRun>> = {
  mul: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = Math.imul(a[i]!, b[j]!);
  },
  div: (out, o, a, i, sa, b, j, sb, n) => {
    for (const end = o + n; o < end; o++, i += sa, j += sb) out[o] = Math.trunc(a[i]! / b[j]!);
  },
};

export function where(cond: StridedView, a: StridedView, b: StridedView): BackendBuffer {
  const dtype = a.buffer.dtype;
  const out = allocUninit(dtype, sizeOf(a.shape));
  const C = viewData(cond);
  const A = viewData(a);
  const B = viewData(b);
  const runs = coalesce(a.shape, [contiguousStrides(a.shape), cond.strides, a.strides, b.strides]);
  const [, sc, sa, sb] = runs.inner as [number, number, number, number];
  const n = runs.n;
  if (out instanceof Float32Array && C instanceof Uint8Array && A instanceof Float32Array && B instanceof Float32Array) {
    // float32 (attention's masked scores) in a loop V8 compiles for these array types only
    forEachRun(runs, [0, cond.offset, a.offset, b.offset], (offs) => whereRunF32(out, C, A, B, offs, n, sc, sa, sb));
    return new CpuBuffer(out, dtype);
  }
  // Raw element copies, so half types select their bit patterns unchanged.
  forEachRun(runs, [0, cond.offset, a.offset, b.offset], (offs) => {
    let o = offs[0]!;
    let c = offs[1]!;
    let i = offs[2]!;
    let j = offs[3]!;
    const end = o + n;
    for (; o < end; o++, c += sc, i += sa, j += sb) out[o] = C[c] !== 0 ? A[i]! : B[j]!;
  });
  return new CpuBuffer(out, dtype);
}

function whereRunF32(
  out: Float32Array,
  C: Uint8Array,
  A: Float32Array,
  B: Float32Array,
  offs: readonly number[],
  n: number,
  sc: number,
  sa: number,
  sb: number,
): void {
  let o = offs[0]!;
  let c = offs[1]!;
  let i = offs[2]!;
  let j = offs[3]!;
  const end = o + n;
  for (; o < end; o++, c += sc, i += sa, j += sb) out[o] = C[c] !== 0 ? A[i]! : B[j]!;
}

const SQRT_HALF = Math.SQRT1_2;
const TWO_SQRT_2_OVER_PI = 2 * Math.sqrt(2 / Math.PI);

export function unary(op: UnaryOp, x: StridedView, wasm = true): BackendBuffer {
  const dtype = x.buffer.dtype;
  if (isHalf(dtype)) {
    const r = unary(op, float32View(x), wasm);
    return cast({ buffer: r, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
  }
  const resident = wasm ? residentUnary(op, x) : null;
  if (resident) return new CpuBuffer(resident, dtype);
  const run = (dtype === "float32" ? undefined : INT_UNARY_RUNS[op]) ?? UNARY_RUNS[op];
  if (run === undefined) throw new Error(`cpu backend: unknown unary op '${op as string}'`);
  const src = viewData(x);
  const out = allocUninit(dtype, sizeOf(x.shape));
  const runs = coalesce(x.shape, [contiguousStrides(x.shape), x.strides]);
  const s = runs.inner[1]!;
  // GELU (tanh) and SiLU are exp-bound: the WASM SIMD kernels take contiguous float32 runs
  const simd = wasm && dtype === "float32" && s === 1 ? (op === "gelu_tanh" ? geluTanhWasm : op === "silu" ? siluWasm : null) : null;
  forEachRun(runs, [0, x.offset], (offs) => {
    if (simd?.(src as Float32Array, offs[1]!, out as Float32Array, offs[0]!, runs.n)) return;
    run(out, offs[0]!, src, offs[1]!, s, runs.n);
  });
  return new CpuBuffer(out, dtype);
}

/** out[o + t] = op(a[i + t*s]) for t < n. */
type UnaryRun = (out: HostArray, o: number, a: HostArray, i: number, s: number, n: number) => void;

// One small function per op (not one switch) so V8 optimises each independently: the first use of
// a new op does not deoptimise the loops of the others.
const UNARY_RUNS: Record<UnaryOp, UnaryRun> = {
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
      out[o] = Math.max(v, 0);
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
const INT_UNARY_RUNS: Partial<Record<UnaryOp, UnaryRun>> = {
  floor: (out, o, a, i, s, n) => {
    for (const end = o + n; o < end; o++, i += s) out[o] = a[i]!;
  },
};
