import type { StridedView } from "../backend.js";
import type { HostArray } from "../dtype.js";
import { viewData } from "./buffer.js";
import { encodeHalfRun } from "./half.js";

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= shape[i]!;
  }
  return strides;
}

/** True when the view addresses `offset .. offset + size` in row-major order. */
export function isContiguous(view: StridedView): boolean {
  let s = 1;
  for (let i = view.shape.length - 1; i >= 0; i--) {
    const d = view.shape[i]!;
    if (d !== 1 && view.strides[i] !== s) return false;
    s *= d;
  }
  return true;
}

/**
 * The iteration space of several same-shaped strided operands, simplified: size-1 dims dropped and
 * adjacent dims merged wherever every operand steps through them as one. Contiguous operands
 * collapse to one long run; a row broadcast over the last axis becomes [rows, cols] with stride 0.
 */
export interface Runs {
  /** Sizes of the outer dims (all but the innermost), outermost first. */
  outer: number[];
  /** outerStrides[k][d]: operand k's stride along outer dim d. */
  outerStrides: number[][];
  /** Length of the innermost run. */
  n: number;
  /** innerStrides[k]: operand k's stride within a run. */
  inner: number[];
}

export function coalesce(shape: readonly number[], strides: readonly (readonly number[])[]): Runs {
  const k = strides.length;
  const dims: number[] = [];
  const st: number[][] = strides.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    const size = shape[d]!;
    if (size === 1) continue;
    const last = dims.length - 1;
    let merge = last >= 0;
    for (let j = 0; j < k && merge; j++) merge = st[j]![last]! === strides[j]![d]! * size;
    if (merge) {
      dims[last]! *= size;
      for (let j = 0; j < k; j++) st[j]![last] = strides[j]![d]!;
    } else {
      dims.push(size);
      for (let j = 0; j < k; j++) st[j]!.push(strides[j]![d]!);
    }
  }
  if (dims.length === 0) return { outer: [], outerStrides: st, n: sizeOf(shape), inner: strides.map(() => 0) };
  const n = dims.pop()!;
  const inner = st.map((s) => s.pop()!);
  return { outer: dims, outerStrides: st, n, inner };
}

/**
 * Calls fn once per innermost run with each operand's start offset in `offs` (reused, do not keep).
 * The callback is per run, never per element, so hot loops stay inside the kernels.
 */
export function forEachRun(runs: Runs, offsets: readonly number[], fn: (offs: number[]) => void): void {
  const { outer, outerStrides } = runs;
  const k = offsets.length;
  const offs = offsets.slice();
  if (runs.n === 0) return;
  for (const d of outer) if (d === 0) return;
  const r = outer.length;
  if (r === 0) {
    fn(offs);
    return;
  }
  const idx = new Array<number>(r).fill(0);
  for (;;) {
    fn(offs);
    // Odometer step over the outer dims, innermost first, adjusting offsets incrementally.
    let d = r - 1;
    for (; d >= 0; d--) {
      if (++idx[d]! < outer[d]!) {
        for (let j = 0; j < k; j++) offs[j]! += outerStrides[j]![d]!;
        break;
      }
      idx[d] = 0;
      for (let j = 0; j < k; j++) offs[j]! -= outerStrides[j]![d]! * (outer[d]! - 1);
    }
    if (d < 0) return;
  }
}

/** Copies a strided view into dst starting at dstOffset, row-major. Works for any element type. */
export function gatherInto(view: StridedView, dst: HostArray, dstOffset = 0): void {
  copyInto(view, dst, dstOffset, contiguousStrides(view.shape));
}

/** Copies a strided view into dst laid out with `dstStrides` (same element type as the view). */
export function copyInto(view: StridedView, dst: HostArray, dstOffset: number, dstStrides: readonly number[]): void {
  const src = viewData(view);
  const runs = coalesce(view.shape, [dstStrides, view.strides]);
  const n = runs.n;
  const [sd, s] = runs.inner as [number, number];
  if (src instanceof Float32Array && dst instanceof Float32Array) {
    // float32 (most copies: heads split and merged) in a loop V8 compiles for float32 arrays only;
    // rows of runs (a decoding step's heads written into a KV cache) without forEachRun's odometer
    if (runs.outer.length <= 1) {
      const rows = runs.outer[0] ?? 1;
      const [rowD, rowS] = [runs.outerStrides[0]![0] ?? 0, runs.outerStrides[1]![0] ?? 0];
      for (let r = 0, o = dstOffset, i = view.offset; r < rows && n > 0; r++, o += rowD, i += rowS) copyRunF32(dst, src, o, i, n, sd, s);
      return;
    }
    forEachRun(runs, [dstOffset, view.offset], (offs) => copyRunF32(dst, src, offs[0]!, offs[1]!, n, sd, s));
    return;
  }
  forEachRun(runs, [dstOffset, view.offset], (offs) => {
    let o = offs[0]!;
    let i = offs[1]!;
    if (s === 1 && sd === 1 && n > 8) {
      dst.set(src.subarray(i, i + n), o);
    } else {
      for (let j = 0; j < n; j++, i += s, o += sd) dst[o] = src[i]!;
    }
  });
}

/**
 * copyInto from a float32 view into a float16 or bfloat16 array (its raw bits), each value rounded
 * to nearest even as `cast` rounds it.
 */
export function copyRoundedInto(
  view: StridedView,
  dst: Uint16Array,
  dstOffset: number,
  dstStrides: readonly number[],
  bf16: boolean,
): void {
  const src = viewData(view) as Float32Array;
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const runs = coalesce(view.shape, [dstStrides, view.strides]);
  const [sd, s] = runs.inner as [number, number];
  forEachRun(runs, [dstOffset, view.offset], (offs) => encodeHalfRun(bf16, bits, offs[1]!, s, dst, offs[0]!, sd, runs.n));
}

/** One run of copyInto on float32 arrays; short contiguous runs (a head's 64 floats) by the loop, which beats a subarray per run. */
function copyRunF32(dst: Float32Array, src: Float32Array, o: number, i: number, n: number, sd: number, s: number): void {
  if (s === 1 && sd === 1 && n > 256) {
    dst.set(src.subarray(i, i + n), o);
    return;
  }
  for (let j = 0; j < n; j++, i += s, o += sd) dst[o] = src[i]!;
}

/** The view's elements as a row-major array: the backing array itself when already contiguous. */
export function contiguousData(view: StridedView): HostArray {
  const src = viewData(view);
  const size = sizeOf(view.shape);
  if (isContiguous(view)) return src.subarray(view.offset, view.offset + size);
  const out = new (src.constructor as { new (n: number): HostArray })(size);
  gatherInto(view, out, 0);
  return out;
}
