// Shared helpers for the cpu backend tests: views over host data and naive reference loops.
import type { StridedView } from "../src/backend.js";
import { QUANT_BLOCKS, type DType, type HostArray } from "../src/dtype.js";
import { cpuBackend } from "../src/cpu/backend.js";
import { float32ToFloat16Bits } from "../src/cpu/half.js";
import type { LatticeDType } from "../src/cpu/wasm/lattice_code.js";

export const be = cpuBackend;

export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomF32(n: number, seed: number, scale = 2): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r() - 0.5) * scale);
}

/**
 * Random Q4_K or Q5_K super-blocks (no quantizer for them here; GGUF files bring them) with d and
 * dmin of a real model's size: every bit of the scales, mins, nibbles and fifth bits varies.
 */
export function randomScaleMinBlocks(dtype: "q4_k" | "q5_k", blocks: number, seed: number): Uint8Array {
  const bytes = QUANT_BLOCKS[dtype].bytes;
  const data = Uint8Array.from(randomF32(blocks * bytes, seed), (v) => Math.floor((v + 1) * 128) & 255);
  const scale = randomF32(2 * blocks, seed + 1);
  for (let blk = 0; blk < blocks; blk++) {
    const d = float32ToFloat16Bits(0.002 + Math.abs(scale[2 * blk]!) * 0.004);
    const dmin = float32ToFloat16Bits(0.001 + Math.abs(scale[2 * blk + 1]!) * 0.002);
    data.set([d & 255, d >> 8, dmin & 255, dmin >> 8], blk * bytes);
  }
  return data;
}

/**
 * Random blocks of a lattice type (IQ1/IQ2/IQ3: random table indices, signs and sub-block scales)
 * with each block's float16 d between 1e-3 and 3e-3 (IQ1_M's spread over its scale words' top nibbles).
 */
export function randomLatticeBlocks(dtype: LatticeDType, blocks: number, seed: number): Uint8Array {
  const bytes = QUANT_BLOCKS[dtype].bytes;
  const data = Uint8Array.from(randomF32(blocks * bytes, seed), (v) => Math.floor((v + 1) * 128) & 255);
  const scale = randomF32(blocks, seed + 1);
  for (let blk = 0; blk < blocks; blk++) {
    const d = float32ToFloat16Bits(0.001 + Math.abs(scale[blk]!) * 0.002);
    const o = blk * bytes;
    if (dtype === "iq1_m") for (let k = 0; k < 4; k++) data[o + 49 + 2 * k] = (data[o + 49 + 2 * k]! & 0x0f) | (((d >> (4 * k)) & 15) << 4);
    else data.set([d & 255, d >> 8], o);
  }
  return data;
}

export function contiguousStridesOf(shape: readonly number[]): number[] {
  const s: number[] = [];
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i]!;
  }
  return s;
}

/** A view over freshly uploaded data; contiguous unless strides/offset are given. */
export function view(
  data: HostArray | number[],
  shape: readonly number[],
  opts: { dtype?: DType; strides?: readonly number[]; offset?: number } = {},
): StridedView {
  const dtype = opts.dtype ?? "float32";
  const host = Array.isArray(data) ? hostOf(dtype, data) : data;
  return {
    buffer: be.upload(host, dtype),
    shape,
    strides: opts.strides ?? contiguousStridesOf(shape),
    offset: opts.offset ?? 0,
  };
}

export function hostOf(dtype: DType, values: number[]): HostArray {
  switch (dtype) {
    case "float32":
      return Float32Array.from(values);
    case "int32":
      return Int32Array.from(values);
    case "bool":
      return Uint8Array.from(values);
    default:
      return Uint16Array.from(values);
  }
}

/** Re-views an existing view (shares the buffer) with other shape/strides/offset. */
export function restride(v: StridedView, shape: readonly number[], strides: readonly number[], offset: number): StridedView {
  return { buffer: v.buffer, shape, strides, offset };
}

/** Transposed view of a contiguous [.., R, C] buffer: shape [.., C, R], strides swapped. */
export function transposed(v: StridedView): StridedView {
  const r = v.shape.length;
  const shape = v.shape.slice();
  const strides = v.strides.slice();
  [shape[r - 2], shape[r - 1]] = [shape[r - 1]!, shape[r - 2]!];
  [strides[r - 2], strides[r - 1]] = [strides[r - 1]!, strides[r - 2]!];
  return { ...v, shape, strides };
}

/** All multi-indices of a shape in row-major order. */
export function* indices(shape: readonly number[]): Generator<number[]> {
  const n = shape.reduce((a, b) => a * b, 1);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    yield idx.slice();
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

// Buffers are immutable, so one host copy per buffer serves every element lookup.
const hostCache = new WeakMap<object, HostArray>();
function host(buffer: StridedView["buffer"]): HostArray {
  let data = hostCache.get(buffer);
  if (data === undefined) hostCache.set(buffer, (data = be.readSync(buffer)));
  return data;
}

/** Element of a view at a multi-index, by the definition of strides. */
export function at(v: StridedView, idx: readonly number[]): number {
  let o = v.offset;
  for (let d = 0; d < idx.length; d++) o += idx[d]! * v.strides[d]!;
  return host(v.buffer)[o]!;
}

/** The view's elements in row-major order, naively. */
export function naive(v: StridedView): number[] {
  const data = host(v.buffer);
  const out: number[] = [];
  for (const idx of indices(v.shape)) {
    let o = v.offset;
    for (let d = 0; d < idx.length; d++) o += idx[d]! * v.strides[d]!;
    out.push(data[o]!);
  }
  return out;
}

export function read(buffer: StridedView["buffer"]): number[] {
  return Array.from(be.readSync(buffer));
}

/** Asserts element-wise closeness with a relative + absolute tolerance; NaN must match NaN. */
export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-6): void {
  if (actual.length !== expected.length) throw new Error(`length ${actual.length} != expected ${expected.length}`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    if (Number.isNaN(e) ? Number.isNaN(a) : a === e || Math.abs(a - e) <= tol * (1 + Math.abs(e))) continue;
    throw new Error(`element ${i}: got ${a}, expected ${e} (tol ${tol})`);
  }
}
