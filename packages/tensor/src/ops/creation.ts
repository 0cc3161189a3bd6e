import type { Backend } from "../backend.js";
import { allocHost, type DType, type HostArray } from "../dtype.js";
import { getBackend } from "../engine.js";
import { ArgumentError, ShapeError, fmtShape } from "../errors.js";
import { Rng } from "../rng.js";
import { checkShape, sizeOf } from "../shape.js";
import { Storage, Tensor } from "../tensor.js";
import { fromBuffer } from "./core.js";

export interface CreateOptions {
  dtype?: DType;
  backend?: Backend;
  requiresGrad?: boolean;
}

export type NestedNumbers = number | boolean | readonly NestedNumbers[];
export type TensorValues = NestedNumbers | ArrayLike<number>;

function finish(t: Tensor, options: CreateOptions): Tensor {
  if (options.requiresGrad) t.requireGrad(true);
  return t;
}

/** A tensor from nested arrays or a typed array (with `shape` for a flat one). */
export function tensor(values: TensorValues, options: CreateOptions & { shape?: readonly number[] } = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const flat = isArrayLike(values) && !Array.isArray(values);
  const dtype = options.dtype ?? inferDType(values);
  let shape: number[];
  let host: HostArray;
  if (flat) {
    const typed = values as ArrayLike<number>;
    shape = options.shape ? checkShape(options.shape, "tensor") : [typed.length];
    host = toHost(typed, dtype);
  } else {
    shape = inferShape(values as NestedNumbers);
    const out: number[] = [];
    flattenInto(values as NestedNumbers, shape, 0, out);
    host = toHost(out, dtype);
    if (options.shape) shape = checkShape(options.shape, "tensor");
  }
  if (sizeOf(shape) !== host.length) {
    throw new ShapeError(`tensor: ${host.length} values cannot fill shape ${fmtShape(shape)} (${sizeOf(shape)} elements)`);
  }
  return finish(fromBuffer(backend, backend.upload(host, dtype), shape, dtype), options);
}

function isArrayLike(v: unknown): v is ArrayLike<number> {
  return typeof v === "object" && v !== null && typeof (v as ArrayLike<number>).length === "number";
}

function inferDType(values: TensorValues): DType {
  if (values instanceof Int32Array) return "int32";
  if (values instanceof Uint8Array) return "bool";
  if (values instanceof Uint16Array) {
    throw new ArgumentError('tensor: a Uint16Array is ambiguous; pass dtype: "float16" or "bfloat16" for raw half bits');
  }
  let v: unknown = values;
  while (Array.isArray(v)) v = v[0];
  return typeof v === "boolean" ? "bool" : "float32";
}

function inferShape(values: NestedNumbers): number[] {
  const shape: number[] = [];
  let v: NestedNumbers = values;
  while (Array.isArray(v)) {
    shape.push(v.length);
    v = v[0] as NestedNumbers;
  }
  return shape;
}

function flattenInto(v: NestedNumbers, shape: number[], depth: number, out: number[]): void {
  if (depth === shape.length) {
    if (Array.isArray(v)) throw new ShapeError(`tensor: ragged nested array (too deep at depth ${depth})`);
    out.push(typeof v === "boolean" ? Number(v) : (v as number));
    return;
  }
  if (!Array.isArray(v) || v.length !== shape[depth]) {
    throw new ShapeError(
      `tensor: ragged nested array: expected ${shape[depth]} items at depth ${depth}, found ${Array.isArray(v) ? v.length : "a number"}`,
    );
  }
  for (const item of v) flattenInto(item, shape, depth + 1, out);
}

function toHost(values: ArrayLike<number>, dtype: DType): HostArray {
  const host = allocHost(dtype, values.length);
  if (dtype === "float16" || dtype === "bfloat16") {
    if (!(values instanceof Uint16Array)) {
      throw new ArgumentError(`tensor: ${dtype} values must be given as raw bits in a Uint16Array (or create float32 and cast)`);
    }
  }
  host.set(values);
  return host;
}

export function full(shape: readonly number[], value: number, options: CreateOptions = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? "float32";
  const s = checkShape(shape, "full");
  return finish(fromBuffer(backend, backend.fill(sizeOf(s), value, dtype), s, dtype), options);
}

/**
 * Zeros whose buffer is allocated only when first used: the parameters of a model that a
 * checkpoint is about to fill (Tensor.adopt replaces them without their memory ever existing).
 */
export function lazyZeros(shape: readonly number[], options: CreateOptions = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? "float32";
  const s = checkShape(shape, "lazyZeros");
  return finish(new Tensor(new Storage(backend, null, { size: sizeOf(s), dtype }), s, dtype), options);
}

/**
 * A tensor whose elements are unspecified until written (torch.empty): for a buffer that is about
 * to be filled part by part with writeInto (a KV cache), so that room reserved and not yet used
 * costs no writes (and on the CPU backend no physical memory). Zeros where the backend cannot hand
 * out uninitialized memory.
 */
export function empty(shape: readonly number[], options: CreateOptions = {}): Tensor {
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? "float32";
  const s = checkShape(shape, "empty");
  const size = sizeOf(s);
  const uninitialized = backend.allocateHost && backend.adopt && dtype !== "bool";
  const buffer = uninitialized ? backend.adopt!(backend.allocateHost!(dtype, size), dtype) : backend.fill(size, 0, dtype);
  return finish(new Tensor(new Storage(backend, buffer), s, dtype), options);
}

export const zeros = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 0, options);
export const ones = (shape: readonly number[], options: CreateOptions = {}): Tensor => full(shape, 1, options);
export const zerosLike = (t: Tensor, options: CreateOptions = {}): Tensor =>
  full(t.shape, 0, { dtype: t.dtype, backend: t.backend, ...options });
export const onesLike = (t: Tensor, options: CreateOptions = {}): Tensor =>
  full(t.shape, 1, { dtype: t.dtype, backend: t.backend, ...options });

/**
 * arange(end) or arange(start, end, step): int32 when every argument is an integer (as torch does),
 * float32 otherwise, unless `dtype` says.
 */
export function arange(start: number, end?: number, step = 1, options: CreateOptions = {}): Tensor {
  if (end === undefined) [start, end] = [0, start];
  if (step === 0) throw new ArgumentError("arange: step must not be 0");
  const n = Math.max(0, Math.ceil((end - start) / step));
  const dtype = options.dtype ?? ([start, end, step].every(Number.isInteger) ? "int32" : "float32");
  const host = allocHost(dtype, n);
  for (let i = 0; i < n; i++) host[i] = start + i * step;
  const backend = options.backend ?? getBackend();
  return finish(fromBuffer(backend, backend.upload(host, dtype), [n], dtype), options);
}

export interface RandomOptions extends CreateOptions {
  /** Seed for a fresh generator (ignored when `rng` is given). */
  seed?: number;
  rng?: Rng;
}

export interface NormalOptions extends RandomOptions {
  mean?: number;
  std?: number;
}

/** Normal samples drawn on the host from a seeded Rng: same seed, same numbers on every backend. */
export function randn(shape: readonly number[], options: NormalOptions = {}): Tensor {
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const { mean = 0, std = 1 } = options;
  const host = rng.fillNormal(new Float32Array(sizeOf(checkShape(shape, "randn"))), mean, std);
  return tensor(host, { ...options, dtype: "float32", shape });
}

/** Uniform samples in [low, high). */
export function rand(shape: readonly number[], options: RandomOptions & { low?: number; high?: number } = {}): Tensor {
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const { low = 0, high = 1 } = options;
  const host = new Float32Array(sizeOf(checkShape(shape, "rand")));
  for (let i = 0; i < host.length; i++) host[i] = low + (high - low) * rng.uniform();
  return tensor(host, { ...options, dtype: "float32", shape });
}
