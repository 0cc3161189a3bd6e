import type { BackendBuffer, StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { allocZeroed } from "../pool.js";
import { CpuBuffer } from "../buffer.js";
import { cast, isHalf, toFloat32 } from "./cast.js";
import { contiguousData, contiguousStrides, sizeOf } from "../strided.js";
import { residentScatterRows } from "../resident/train.js";

function product(dims: readonly number[]): number {
  return sizeOf(dims);
}

function indexArray(indices: StridedView): Int32Array {
  return contiguousData(indices) as Int32Array;
}

/**
 * numpy.take: out[i0.., j.., k..] = x[i0.., indices[j..], k..]. Rows are copied whole, so an
 * embedding lookup is one memcpy per token; raw elements move, so half types stay bit-exact.
 */
export function gather(x: StridedView, indices: StridedView, axis: number): BackendBuffer {
  const dtype = x.buffer.dtype;
  const outer = product(x.shape.slice(0, axis));
  const len = x.shape[axis]!;
  const inner = product(x.shape.slice(axis + 1));
  const idx = indexArray(indices);
  const m = idx.length;
  const src = contiguousData(x);
  const out = allocZeroed(dtype, outer * m * inner);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < m; j++) {
      let k = idx[j]!;
      if (k < 0) k += len;
      const from = (o * len + k) * inner;
      const to = (o * m + j) * inner;
      if (inner > 16) out.set(src.subarray(from, from + inner), to);
      else for (let t = 0; t < inner; t++) out[to + t] = src[from + t]!;
    }
  }
  return new CpuBuffer(out, dtype);
}

/** The adjoint of gather: zeros of `shape` with `updates` added at `indices` along `axis`. */
export function scatterAdd(updates: StridedView, indices: StridedView, axis: number, shape: readonly number[]): BackendBuffer {
  const dtype = updates.buffer.dtype;
  const resident = axis === 0 && dtype === "float32" ? residentScatterRows(updates, indices, shape) : null;
  if (resident) return new CpuBuffer(resident, dtype);
  const half = isHalf(dtype);
  const outer = product(shape.slice(0, axis));
  const len = shape[axis]!;
  const inner = product(shape.slice(axis + 1));
  const idx = indexArray(indices);
  const src = half ? toFloat32(updates) : contiguousData(updates);
  const out = half ? new Float32Array(sizeOf(shape)) : allocZeroed(dtype, sizeOf(shape));
  if (out instanceof Float32Array && src instanceof Float32Array) scatterAddF32(out, src, idx, outer, len, inner);
  else scatterAddAny(out, src, idx, outer, len, inner);
  const buffer = new CpuBuffer(out, half ? "float32" : dtype);
  if (!half) return buffer;
  return cast({ buffer, shape, strides: contiguousStrides(shape), offset: 0 }, dtype);
}

type Indices = Int32Array;

// Two copies of one loop: with float32 arrays only, V8 compiles the accumulation monomorphically
// (the slice backward scatters a [2048, 768] gradient one element per index, ~10x faster so).
function scatterAddF32(out: Float32Array, src: Float32Array, idx: Indices, outer: number, len: number, inner: number): void {
  const m = idx.length;
  for (let o = 0, from = 0; o < outer; o++) {
    for (let j = 0; j < m; j++, from += inner) {
      let k = idx[j]!;
      if (k < 0) k += len;
      const to = (o * len + k) * inner;
      if (inner === 1) out[to] += src[from]!;
      else for (let t = 0; t < inner; t++) out[to + t] += src[from + t]!;
    }
  }
}

function scatterAddAny(out: HostArray, src: HostArray, idx: Indices, outer: number, len: number, inner: number): void {
  const m = idx.length;
  for (let o = 0, from = 0; o < outer; o++) {
    for (let j = 0; j < m; j++, from += inner) {
      let k = idx[j]!;
      if (k < 0) k += len;
      const to = (o * len + k) * inner;
      for (let t = 0; t < inner; t++) out[to + t] += src[from + t]!;
    }
  }
}
