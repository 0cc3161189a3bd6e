import type { BackendBuffer, DType, StridedView } from "@llm/tensor";

/** Plain-JS strided views and reference kernels the GPU results are checked against. */
export interface HostView {
  data: ArrayLike<number>;
  shape: readonly number[];
  strides: readonly number[];
  offset: number;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export function contiguous(shape: readonly number[]): number[] {
  const s: number[] = [];
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d]!;
  }
  return s;
}

/** Calls fn(coords, flatIndex) for every element in row-major order. */
export function forEachIndex(shape: readonly number[], fn: (coords: number[], i: number) => void): void {
  const n = sizeOf(shape);
  const c = new Array<number>(shape.length).fill(0);
  for (let i = 0; i < n; i++) {
    fn(c, i);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++c[d]! < shape[d]!) break;
      c[d] = 0;
    }
  }
}

export function at(v: HostView, coords: readonly number[]): number {
  let o = v.offset;
  coords.forEach((c, d) => (o += c * v.strides[d]!));
  return v.data[o]!;
}

export function materialize(v: HostView): number[] {
  const out: number[] = [];
  forEachIndex(v.shape, (c) => out.push(at(v, c)));
  return out;
}

/** Deterministic pseudo-random floats in [lo, hi). */
export function randomArray(n: number, seed = 1, lo = -2, hi = 2): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = lo + ((s >>> 0) / 4294967296) * (hi - lo);
  }
  return out;
}

/** A strided view over `base` (contiguous `baseShape`), as both a GPU view and its host twin. */
export interface ViewPair {
  gpu: StridedView;
  host: HostView;
}

export function pair(
  buffer: BackendBuffer,
  data: ArrayLike<number>,
  shape: readonly number[],
  strides: readonly number[],
  offset: number,
): ViewPair {
  return { gpu: { buffer, shape, strides, offset }, host: { data, shape, strides, offset } };
}

export function whole(buffer: BackendBuffer, data: ArrayLike<number>, shape: readonly number[]): ViewPair {
  return pair(buffer, data, shape, contiguous(shape), 0);
}

/** Swaps two dims of a view. */
export function transpose(v: ViewPair, a: number, b: number): ViewPair {
  const shape = v.gpu.shape.slice();
  const strides = v.gpu.strides.slice();
  [shape[a], shape[b]] = [shape[b]!, shape[a]!];
  [strides[a], strides[b]] = [strides[b]!, strides[a]!];
  return pair(v.gpu.buffer, v.host.data, shape, strides, v.gpu.offset);
}

/** Reverses a dim (negative stride). */
export function flip(v: ViewPair, d: number): ViewPair {
  const strides = v.gpu.strides.slice();
  const offset = v.gpu.offset + (v.gpu.shape[d]! - 1) * strides[d]!;
  strides[d] = -strides[d]!;
  return pair(v.gpu.buffer, v.host.data, v.gpu.shape, strides, offset);
}

/** Inserts a broadcast (stride 0) dim of size n at d. */
export function broadcast(v: ViewPair, d: number, n: number): ViewPair {
  const shape = v.gpu.shape.slice();
  const strides = v.gpu.strides.slice();
  shape.splice(d, 0, n);
  strides.splice(d, 0, 0);
  return pair(v.gpu.buffer, v.host.data, shape, strides, v.gpu.offset);
}

/** Elements [start, start + len) of dim d. */
export function narrow(v: ViewPair, d: number, start: number, len: number): ViewPair {
  const shape = v.gpu.shape.slice();
  shape[d] = len;
  return pair(v.gpu.buffer, v.host.data, shape, v.gpu.strides, v.gpu.offset + start * v.gpu.strides[d]!);
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5, what = "values"): void {
  if (actual.length !== expected.length) throw new Error(`${what}: expected ${expected.length} elements, found ${actual.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) ? !Number.isNaN(a) : !(a === e || Math.abs(a - e) <= tol * Math.max(1, Math.abs(e)))) {
      throw new Error(
        `${what}: element ${i} is ${a}, expected ${e} (tolerance ${tol}); first values ${Array.from(actual).slice(0, 8).join(", ")}`,
      );
    }
  }
}

export const FLOAT_DTYPES: readonly DType[] = ["float32", "float16", "bfloat16"];
