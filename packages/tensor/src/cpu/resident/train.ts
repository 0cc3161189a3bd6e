import type { AdamWBuffers, AdamWStep, FusedActivation, NormGrads, StridedView } from "../../backend.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { coalesce, contiguousData, contiguousStrides, isContiguous, sizeOf } from "../strided.js";
import { kernel, type KernelRef } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange, type CpuRuntime } from "./runtime.js";

// The training step's kernels besides the matmuls on the resident kernels (../wasm/train_module.ts),
// split over threads. Each returns null (nothing done) where its operands are not float32 in
// WebAssembly memory in a layout it takes; the caller then runs its JS kernel.

const COL_SUMS = kernel("train", "col_sums");
const ROW_SUMS = kernel("train", "row_sums");
const SCATTER_ROWS = kernel("train", "scatter_rows");
const MAX_EXP_SUM = kernel("train", "max_exp_sum");
const EXP_SCALE_SUB_ROWS = kernel("train", "exp_scale_sub_rows");
const EXP_SHIFT_SCALE_ROWS = kernel("train", "exp_shift_scale_rows");
const NORM_GRAD_ROWS = kernel("train", "norm_grad_rows");
const NORM_GRAD_COLS = kernel("train", "norm_grad_cols");
const ADAMW = kernel("train", "adamw");
const BINARY_SUB = kernel("binary", "binary_sub");
const ACTIVATION_GRAD: Partial<Record<FusedActivation, KernelRef>> = {
  gelu_tanh: kernel("activations", "gelu_tanh_grad"),
  silu: kernel("activations", "silu_grad"),
};
/** Threads split columns on multiples of 16 floats (a cache line). */
const LINE = 16;

/** The address of a contiguous float32 view in `ops`'s memory (copied there when elsewhere or strided). */
function contiguous(ops: Operands, x: StridedView): number | null {
  if (x.buffer.dtype !== "float32") return null;
  const data = viewData(x) as Float32Array;
  if (isContiguous(x)) return ops.input(data, x.offset, sizeOf(x.shape));
  const n = sizeOf(x.shape);
  const copy = ops.scratch(n);
  if (copy === null) return null;
  let i = 0;
  const runs = coalesce(x.shape, [contiguousStrides(x.shape), x.strides]);
  const walk = (dim: number, at: number): void => {
    if (dim === runs.outer.length) {
      for (let t = 0; t < runs.n; t++) copy[i++] = data[at + t * runs.inner[1]!]!;
      return;
    }
    for (let k = 0; k < runs.outer[dim]!; k++) walk(dim + 1, at + k * runs.outerStrides[1]![dim]!);
  };
  walk(0, x.offset);
  return copy.byteOffset;
}

/** The runtime and the memory of x, when x is float32 in one; null otherwise. */
function homeOf(x: StridedView): { rt: CpuRuntime; ops: Operands } | null {
  const rt = activeRuntime();
  if (rt === null || x.buffer.dtype !== "float32") return null;
  const home = rt.heap.locate(viewData(x));
  return home === null ? null : { rt, ops: new Operands(rt.heap, home) };
}

function rowParts(rt: CpuRuntime, rows: number, cols: number): [number, number][] {
  return splitRange(rows, rt.partsFor(rows * cols * 4, rows), 1);
}

function colParts(rt: CpuRuntime, rows: number, cols: number): [number, number][] {
  return splitRange(cols, rt.partsFor(rows * cols, Math.ceil(cols / LINE)), LINE);
}

/** g * f'(x) for GELU (tanh) and SiLU. */
export function residentActivationGrad(op: FusedActivation, x: StridedView, g: StridedView): Float32Array | null {
  const ref = ACTIVATION_GRAD[op];
  const h = ref ? homeOf(x) : null;
  if (h === null || ref === undefined) return null;
  const { rt, ops } = h;
  const n = sizeOf(x.shape);
  const xa = contiguous(ops, x);
  const ga = xa === null ? null : contiguous(ops, g);
  const result = ga === null ? null : ops.result(n);
  if (xa === null || ga === null || result === null || n === 0) {
    ops.done(false);
    return null;
  }
  // whole vectors (the last reads and writes up to three floats past the end: blocks have room)
  const parts = splitRange(n, rt.partsFor(n * 8, Math.ceil(n / LINE)), LINE);
  rt.call(
    ref,
    ops.home,
    parts.map(([s, e]) => [xa + s * 4, ga + s * 4, result.addr + s * 4, Math.ceil((e - s) / 4)]),
  );
  ops.done();
  return result.array;
}

/** Sums of float32 x over `axes`: all leading axes (a bias's gradient) or the last one; null for other reductions. */
export function residentSum(x: StridedView, axes: readonly number[]): Float32Array | null {
  const r = x.shape.length;
  if (r === 0 || !isContiguous(x)) return null;
  const lastOnly = axes.length === 1 && axes[0] === r - 1;
  const leading = axes.length === r - 1 && axes.every((a, i) => a === i);
  if (!lastOnly && !leading) return null;
  const h = homeOf(x);
  if (h === null) return null;
  const { rt, ops } = h;
  const cols = x.shape[r - 1]!;
  const rows = sizeOf(x.shape) / Math.max(1, cols);
  if (cols === 0 || rows === 0) {
    ops.done(false);
    return null;
  }
  const xa = (viewData(x) as Float32Array).byteOffset + x.offset * 4;
  const result = ops.result(lastOnly ? rows : cols);
  if (result === null) return null;
  if (lastOnly) {
    rt.call(
      ROW_SUMS,
      ops.home,
      rowParts(rt, rows, cols).map(([r0, r1]) => [xa + r0 * cols * 4, cols * 4, r1 - r0, cols, result.addr + r0 * 4]),
    );
  } else {
    rt.call(
      COL_SUMS,
      ops.home,
      colParts(rt, rows, cols).map(([c0, c1]) => [xa + c0 * 4, cols * 4, rows, c1 - c0, result.addr + c0 * 4]),
    );
  }
  ops.done();
  return result.array;
}

/** zeros [len, ...inner] plus rows of `updates` added at `indices` along axis 0 (an embedding's gradient). */
export function residentScatterRows(updates: StridedView, indices: StridedView, shape: readonly number[]): Float32Array | null {
  const h = homeOf(updates);
  if (h === null || indices.buffer.dtype !== "int32") return null;
  const { rt, ops } = h;
  const cols = sizeOf(shape.slice(1));
  const n = sizeOf(indices.shape);
  const idx = Int32Array.from({ length: n }, () => 0);
  const src = viewData(indices) as Int32Array;
  const runs = coalesce(indices.shape, [contiguousStrides(indices.shape), indices.strides]);
  if (runs.outer.length > 0) return null;
  for (let j = 0; j < n; j++) {
    let k = src[indices.offset + j * runs.inner[1]!]!;
    if (k < 0) k += shape[0]!;
    idx[j] = k;
  }
  const ua = contiguous(ops, updates);
  const ia = ops.scratch(n);
  const out = ops.heap.allocIn(ops.home, "float32", sizeOf(shape), true) as Float32Array | null;
  if (ua === null || ia === null || out === null || cols === 0) {
    if (out) ops.heap.free(out);
    ops.done(false);
    return null;
  }
  new Int32Array(ia.buffer, ia.byteOffset, n).set(idx);
  rt.call(
    SCATTER_ROWS,
    ops.home,
    colParts(rt, n, cols).map(([c0, c1]) => [ua + c0 * 4, cols * 4, ia.byteOffset, n, out.byteOffset + c0 * 4, cols * 4, c1 - c0]),
  );
  ops.done();
  return out;
}

/** A shape as rows of its last axis: that axis's length, all elements, and how many rows (0 when the axis is empty). */
function lastAxisRows(shape: readonly number[]): { cols: number; n: number; rows: number } {
  const cols = shape[shape.length - 1] ?? 1;
  const n = sizeOf(shape);
  return { cols, n, rows: cols === 0 ? 0 : n / cols };
}

/**
 * Each row's shift max + log sum e^(x - max) over the last axis of contiguous float32 x (+Infinity
 * for a row of -Infinity), rounded to float32: the per-row max and sum of exps on the kernels, the
 * log here. In scratch of `ops` (its first `rows` floats), with x's address; null when it cannot run.
 */
function rowShifts(x: StridedView): { rt: CpuRuntime; ops: Operands; xa: number; rows: number; cols: number; shift: Float32Array } | null {
  if (!isContiguous(x)) return null;
  const h = homeOf(x);
  if (h === null) return null;
  const { rt, ops } = h;
  const { cols, rows } = lastAxisRows(x.shape);
  const stats = rows === 0 ? null : ops.scratch(2 * rows);
  if (stats === null) {
    ops.done(false);
    return null;
  }
  const xa = (viewData(x) as Float32Array).byteOffset + x.offset * 4;
  rt.call(
    MAX_EXP_SUM,
    ops.home,
    rowParts(rt, rows, cols).map(([r0, r1]) => [xa + r0 * cols * 4, cols * 4, r1 - r0, cols, stats.byteOffset + r0 * 8]),
  );
  // (in place: row r's shift overwrites float r, read before from floats 2r and 2r + 1)
  const shift = stats.subarray(0, rows);
  for (let r = 0; r < rows; r++) {
    const max = stats[2 * r]!;
    shift[r] = max === -Infinity ? Infinity : max + Math.log(stats[2 * r + 1]!);
  }
  return { rt, ops, xa, rows, cols, shift };
}

/** logSoftmax over the last axis of contiguous float32 x: x - its row's shift (rowShifts) on the kernels. */
export function residentLogSoftmax(x: StridedView): Float32Array | null {
  const s = rowShifts(x);
  if (s === null) return null;
  const { rt, ops, xa, rows, cols, shift } = s;
  const result = ops.result(rows * cols);
  if (result === null) {
    ops.done(false);
    return null;
  }
  // a row of -Infinity gives -Infinity (x - Infinity), as the JS kernel
  rt.call(
    BINARY_SUB,
    ops.home,
    rowParts(rt, rows, cols).map(([r0, r1]) => [
      xa + r0 * cols * 4,
      cols * 4,
      shift.byteOffset + r0 * 4,
      4,
      1,
      result.addr + r0 * cols * 4,
      r1 - r0,
      cols,
    ]),
  );
  ops.done();
  return result.array;
}

/** Each row's log-sum-exp over the last axis of contiguous float32 x: residentLogSoftmax's shift. */
export function residentLogSumExpRows(x: StridedView): Float32Array | null {
  const s = rowShifts(x);
  if (s === null) return null;
  const result = s.ops.result(s.rows);
  const shift = result === null ? null : s.shift.slice();
  s.ops.done(false);
  if (result === null || shift === null) return null;
  result.array.set(shift);
  return result.array;
}

/**
 * Cross-entropy's gradient at the logits x [rows, cols] from each row's shift (residentLogSumExpRows),
 * target and upstream gradient g: e^(x - shift) g, minus g at the target. The same operations in
 * the same order as logSoftmax's backward fed the gradient of picking the targets, so the same bits.
 */
export function residentCrossEntropyGrad(x: StridedView, shift: StridedView, targets: StridedView, g: StridedView): Float32Array | null {
  const h = homeOf(x);
  if (h === null || targets.buffer.dtype !== "int32") return null;
  const { rt, ops } = h;
  const { cols, n, rows } = lastAxisRows(x.shape);
  const xa = contiguous(ops, x);
  const sa = xa === null ? null : contiguous(ops, shift);
  const ga = sa === null ? null : contiguous(ops, g);
  const result = ga === null ? null : ops.result(n);
  if (xa === null || sa === null || ga === null || result === null) {
    ops.done(false);
    return null;
  }
  rt.call(
    EXP_SHIFT_SCALE_ROWS,
    ops.home,
    rowParts(rt, rows, cols).map(([r0, r1]) => [xa + r0 * cols * 4, sa + r0 * 4, ga + r0 * 4, result.addr + r0 * cols * 4, r1 - r0, cols]),
  );
  ops.done();
  // the target's -g: logSoftmax's backward computes (-g) - e (-g) there, the same float32 value
  const t = contiguousData(targets) as Int32Array;
  const gv = contiguousData(g) as Float32Array;
  for (let r = 0; r < rows; r++) {
    const at = r * cols + t[r]!;
    result.array[at] = result.array[at]! - gv[r]!;
  }
  return result.array;
}

/** g - e^y sum(g) over the last axis (logSoftmax's backward from its output y). */
export function residentLogSoftmaxGrad(y: StridedView, g: StridedView): Float32Array | null {
  const h = homeOf(y);
  if (h === null) return null;
  const { rt, ops } = h;
  const { cols, n, rows } = lastAxisRows(y.shape);
  const ya = contiguous(ops, y);
  const ga = ya === null ? null : contiguous(ops, g);
  const sums = ga === null || rows === 0 ? null : ops.scratch(rows);
  const result = sums === null ? null : ops.result(n);
  if (ya === null || ga === null || sums === null || result === null) {
    ops.done(false);
    return null;
  }
  const parts = rowParts(rt, rows, cols);
  rt.call(
    ROW_SUMS,
    ops.home,
    parts.map(([r0, r1]) => [ga + r0 * cols * 4, cols * 4, r1 - r0, cols, sums.byteOffset + r0 * 4]),
  );
  rt.call(
    EXP_SCALE_SUB_ROWS,
    ops.home,
    parts.map(([r0, r1]) => [ya + r0 * cols * 4, ga + r0 * cols * 4, result.addr + r0 * cols * 4, r1 - r0, cols, sums.byteOffset + r0 * 4]),
  );
  ops.done();
  return result.array;
}

/** layerNorm's (layer) or rmsNorm's backward: dx by rows, the weight's (and bias's) sums by columns. */
export function residentNormGrad(
  layer: boolean,
  x: StridedView,
  weight: StridedView | null,
  g: StridedView,
  eps: number,
  withBias: boolean,
): NormGrads | null {
  const h = homeOf(x);
  if (h === null) return null;
  const { rt, ops } = h;
  const { cols, n, rows } = lastAxisRows(x.shape);
  const xa = contiguous(ops, x);
  const ga = xa === null ? null : contiguous(ops, g);
  let wa: number | null = null;
  if (ga !== null) {
    if (weight) wa = contiguous(ops, weight);
    else {
      const ones = ops.scratch(cols);
      if (ones) ones.fill(1);
      wa = ones?.byteOffset ?? null;
    }
  }
  const stats = wa === null || rows === 0 ? null : ops.scratch(2 * rows);
  const dx = stats === null ? null : ops.result(n);
  const dw = dx === null || !weight ? null : ops.result(cols);
  const db = dx === null || !withBias ? null : ops.result(cols);
  if (xa === null || ga === null || wa === null || stats === null || dx === null || (weight && !dw) || (withBias && !db)) {
    ops.done(false);
    return null;
  }
  rt.call(
    NORM_GRAD_ROWS,
    ops.home,
    rowParts(rt, rows, cols).map(([r0, r1]) => {
      const at = r0 * cols * 4;
      return [xa + at, ga + at, wa, dx.addr + at, stats.byteOffset + r0 * 8, r1 - r0, cols, eps, layer ? 1 : 0];
    }),
  );
  if (dw || db) {
    if (!layer) {
      // rms: xhat = x rstd; with the mean taken as 0 the column kernel computes g x rstd
      for (let r = 0; r < rows; r++) stats[2 * r] = 0;
    }
    rt.call(
      NORM_GRAD_COLS,
      ops.home,
      colParts(rt, rows, cols).map(([c0, c1]) => [
        xa + c0 * 4,
        ga + c0 * 4,
        stats.byteOffset,
        dw ? dw.addr + c0 * 4 : 0,
        db ? db.addr + c0 * 4 : 0,
        rows,
        c1 - c0,
        cols * 4,
      ]),
    );
  }
  ops.done();
  return {
    dx: new CpuBuffer(dx.array, "float32"),
    dweight: dw ? new CpuBuffer(dw.array, "float32") : null,
    dbias: db ? new CpuBuffer(db.array, "float32") : null,
  };
}

/** One AdamW step of a float32 parameter (see ../kernels/adamw.ts for the rounding it matches). */
export function residentAdamW(
  param: StridedView,
  grad: StridedView,
  expAvg: StridedView | null,
  expAvgSq: StridedView | null,
  h: AdamWStep,
): AdamWBuffers | null {
  const home = homeOf(param);
  if (home === null) return null;
  const { rt, ops } = home;
  const n = sizeOf(param.shape);
  const f = Math.fround;
  const pa = contiguous(ops, param);
  const ga = pa === null ? null : contiguous(ops, grad);
  const ma = expAvg && ga !== null ? contiguous(ops, expAvg) : 0;
  const va = expAvgSq && ma !== null ? contiguous(ops, expAvgSq) : 0;
  const outs = va === null ? [] : [ops.result(n), ops.result(n), ops.result(n)];
  if (pa === null || ga === null || ma === null || va === null || outs.some((o) => o === null) || n === 0) {
    ops.done(false);
    return null;
  }
  const [p, m, v] = outs as { array: Float32Array; addr: number }[];
  const first = expAvg && expAvgSq ? 0 : 1;
  const scalars = [
    f(1 - h.lr * h.weightDecay),
    f(1 - h.beta1),
    f(h.beta2),
    f(1 - h.beta2),
    f(h.lr / (1 - h.beta1 ** h.step)),
    f(Math.sqrt(1 - h.beta2 ** h.step)),
    f(h.eps),
  ];
  const parts = splitRange(n, rt.partsFor(n * 8, Math.ceil(n / LINE)), LINE);
  rt.call(
    ADAMW,
    ops.home,
    parts.map(([s, e]) => [
      pa + s * 4,
      ga + s * 4,
      ma + s * 4,
      va + s * 4,
      p!.addr + s * 4,
      m!.addr + s * 4,
      v!.addr + s * 4,
      e - s,
      first,
      ...scalars,
      h.weightDecay !== 0 ? 1 : 0,
    ]),
  );
  ops.done();
  return {
    param: new CpuBuffer(p!.array, "float32"),
    expAvg: new CpuBuffer(m!.array, "float32"),
    expAvgSq: new CpuBuffer(v!.array, "float32"),
  };
}
