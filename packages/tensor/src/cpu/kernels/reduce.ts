import type { BackendBuffer, ReduceOp, StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { allocZeroed } from "../pool.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { cast, float32View, isHalf } from "./cast.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "../strided.js";
import { residentArgmax } from "../resident/rows.js";
import { residentSum } from "../resident/train.js";

const IDENTITY: Record<ReduceOp, number> = { sum: 0, prod: 1, max: -Infinity, min: Infinity };

/** Reduces over `axes`; output shape = input shape with those axes set to 1. */
export function reduce(op: ReduceOp, x: StridedView, axes: readonly number[]): BackendBuffer {
  const dtype = x.buffer.dtype;
  const outShape = x.shape.slice();
  for (const a of axes) outShape[a] = 1;
  if (isHalf(dtype)) {
    const r = reduce(op, float32View(x), axes);
    return cast({ buffer: r, shape: outShape, strides: contiguousStrides(outShape), offset: 0 }, dtype);
  }
  const resident = op === "sum" && dtype === "float32" ? residentSum(x, axes) : null;
  if (resident) return new CpuBuffer(resident, dtype);
  // Accumulate in float64: sums of many float32 values keep their precision, and int32 sums are
  // exact (and wrap like C once stored) below 2^53.
  const acc = new Float64Array(sizeOf(outShape)).fill(IDENTITY[op]);
  const outStrides = contiguousStrides(outShape);
  for (const a of axes) outStrides[a] = 0;
  // Walk the input in its own order; the output offset stays put along reduced axes (stride 0),
  // so reducing the last axis is a run into one accumulator and reducing a leading axis is a
  // run of element-wise accumulations into a whole output row: both stream through memory.
  const runs = coalesce(x.shape, [outStrides, x.strides]);
  const [so, sx] = runs.inner as [number, number];
  const src = viewData(x);
  const isInt = dtype === "int32";
  forEachRun(runs, [0, x.offset], (offs) => reduceRun(op, isInt, acc, offs[0]!, so, src, offs[1]!, sx, runs.n));
  const out = allocZeroed(dtype, acc.length);
  if (dtype === "bool") for (let i = 0; i < acc.length; i++) out[i] = acc[i] !== 0 ? 1 : 0;
  else out.set(acc);
  return new CpuBuffer(out, dtype);
}

function reduceRun(
  op: ReduceOp,
  isInt: boolean,
  acc: Float64Array,
  o: number,
  so: number,
  x: HostArray,
  i: number,
  sx: number,
  n: number,
): void {
  if (so === 0) {
    let v = acc[o]!;
    switch (op) {
      case "sum":
        for (let t = 0; t < n; t++, i += sx) v += x[i]!;
        break;
      case "prod":
        if (isInt) for (let t = 0; t < n; t++, i += sx) v = Math.imul(v, x[i]!);
        else for (let t = 0; t < n; t++, i += sx) v *= x[i]!;
        break;
      case "max":
        // `t !== t` makes NaN win and stay, like numpy/torch.
        for (let t = 0; t < n; t++, i += sx) {
          const t = x[i]!;
          if (t > v || t !== t) v = t;
          if (v !== v) break;
        }
        break;
      case "min":
        for (let t = 0; t < n; t++, i += sx) {
          const t = x[i]!;
          if (t < v || t !== t) v = t;
          if (v !== v) break;
        }
        break;
    }
    acc[o] = v;
    return;
  }
  const end = o + n * so;
  switch (op) {
    case "sum":
      for (; o !== end; o += so, i += sx) acc[o] += x[i]!;
      break;
    case "prod":
      if (isInt) for (; o !== end; o += so, i += sx) acc[o] = Math.imul(acc[o]!, x[i]!);
      else for (; o !== end; o += so, i += sx) acc[o] *= x[i]!;
      break;
    case "max":
      for (; o !== end; o += so, i += sx) {
        const t = x[i]!;
        if (t > acc[o]! || t !== t) acc[o] = t;
      }
      break;
    case "min":
      for (; o !== end; o += so, i += sx) {
        const t = x[i]!;
        if (t < acc[o]! || t !== t) acc[o] = t;
      }
      break;
  }
}

/**
 * Runs fn(outOffset, xOffset) for every position of `x` with `axis` fixed at 0, where outOffset
 * indexes a contiguous array of `outShape` (the axis kept at its size or set to 1).
 */
function forEachLine(x: StridedView, axis: number, outShape: readonly number[], fn: (o: number, i: number) => void): void {
  const lineShape = x.shape.slice();
  lineShape[axis] = 1;
  const runs = coalesce(lineShape, [contiguousStrides(outShape), x.strides]);
  const [so, sx] = runs.inner as [number, number];
  const n = runs.n;
  forEachRun(runs, [0, x.offset], (offs) => {
    for (let t = 0, o = offs[0]!, i = offs[1]!; t < n; t++, o += so, i += sx) fn(o, i);
  });
}

/** Index of the max along `axis` (first on ties; the first NaN wins, like numpy). */
export function argmax(x: StridedView, axis: number): BackendBuffer {
  if (axis === x.shape.length - 1) {
    const resident = residentArgmax(x);
    if (resident !== null) return new CpuBuffer(resident, "int32");
  }
  const src = isHalf(x.buffer.dtype) ? float32View(x) : x;
  const data = viewData(src);
  const outShape = x.shape.slice();
  outShape[axis] = 1;
  const out = new Int32Array(sizeOf(outShape));
  const len = x.shape[axis]!;
  const step = src.strides[axis]!;
  forEachLine(src, axis, outShape, (o, i) => {
    let best = data[i]!;
    let bestK = 0;
    if (best === best) {
      for (let k = 1, j = i + step; k < len; k++, j += step) {
        const v = data[j]!;
        if (v > best) {
          best = v;
          bestK = k;
        } else if (v !== v) {
          bestK = k;
          break;
        }
      }
    }
    out[o] = bestK;
  });
  return new CpuBuffer(out, "int32");
}

/** Inclusive prefix sum along `axis`, accumulated in float64. */
export function cumsum(x: StridedView, axis: number): BackendBuffer {
  const dtype = x.buffer.dtype;
  if (isHalf(dtype)) {
    const r = cumsum(float32View(x), axis);
    return cast({ buffer: r, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
  }
  const data = viewData(x);
  const out = allocZeroed(dtype, sizeOf(x.shape));
  const len = x.shape[axis]!;
  const step = x.strides[axis]!;
  const outStep = contiguousStrides(x.shape)[axis]!;
  forEachLine(x, axis, x.shape, (o, i) => {
    let s = 0;
    for (let k = 0; k < len; k++, i += step, o += outStep) {
      s += data[i]!;
      out[o] = s;
    }
  });
  return new CpuBuffer(out, dtype);
}
