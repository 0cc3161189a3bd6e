import type { BinaryOp } from "../../backend.js";

/**
 * float32 arithmetic for the layouts a training step is made of: both operands dense within a run
 * (same shapes, a row vector over the last axis) or one of them a single value per run (a scalar,
 * a column broadcast). Float32Array-only signatures keep V8's code monomorphic and the loops
 * stride-free: ~15-20% faster per pass than the general strided loops in elementwise.ts.
 */
type Run = (out: Float32Array, o: number, a: Float32Array, i: number, b: Float32Array, j: number, n: number) => void;

const DENSE: Partial<Record<BinaryOp, Run>> = {
  add: (out, o, a, i, b, j, n) => {
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! + b[j + t]!;
  },
  sub: (out, o, a, i, b, j, n) => {
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! - b[j + t]!;
  },
  mul: (out, o, a, i, b, j, n) => {
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! * b[j + t]!;
  },
  div: (out, o, a, i, b, j, n) => {
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! / b[j + t]!;
  },
};

/** b is one value for the whole run. */
const B_ONE: Partial<Record<BinaryOp, Run>> = {
  add: (out, o, a, i, b, j, n) => {
    const v = b[j]!;
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! + v;
  },
  sub: (out, o, a, i, b, j, n) => {
    const v = b[j]!;
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! - v;
  },
  mul: (out, o, a, i, b, j, n) => {
    const v = b[j]!;
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! * v;
  },
  div: (out, o, a, i, b, j, n) => {
    const v = b[j]!;
    for (let t = 0; t < n; t++) out[o + t] = a[i + t]! / v;
  },
};

/** a is one value for the whole run (1 - s, 1 / x). */
const A_ONE: Partial<Record<BinaryOp, Run>> = {
  add: (out, o, a, i, b, j, n) => {
    const v = a[i]!;
    for (let t = 0; t < n; t++) out[o + t] = v + b[j + t]!;
  },
  sub: (out, o, a, i, b, j, n) => {
    const v = a[i]!;
    for (let t = 0; t < n; t++) out[o + t] = v - b[j + t]!;
  },
  mul: (out, o, a, i, b, j, n) => {
    const v = a[i]!;
    for (let t = 0; t < n; t++) out[o + t] = v * b[j + t]!;
  },
  div: (out, o, a, i, b, j, n) => {
    const v = a[i]!;
    for (let t = 0; t < n; t++) out[o + t] = v / b[j + t]!;
  },
};

/** The specialised run for these inner strides, or undefined for the general loop. */
export function f32Run(op: BinaryOp, sa: number, sb: number): Run | undefined {
  if (sa === 1 && sb === 1) return DENSE[op];
  if (sa === 1 && sb === 0) return B_ONE[op];
  if (sa === 0 && sb === 1) return A_ONE[op];
  return undefined;
}
