import type { Backend, BackendBuffer, StridedView } from "./backend.js";
import { isQuantized, type DType, type HostArray } from "./dtype.js";
import { keep as keepTensor, readSettlingChecks, track } from "./engine.js";
import { ArgumentError, DTypeError, ShapeError, fmtShape } from "./errors.js";
import { contiguousStrides, isContiguous, sizeOf, type Shape } from "./shape.js";
import { backward as runBackward } from "./autograd.js";
import * as E from "./ops/elementwise.js";
import * as R from "./ops/reduce.js";
import * as V from "./ops/views.js";
import * as I from "./ops/indexing.js";
import * as N from "./ops/nn.js";
import { matmul } from "./ops/matmul.js";

/** How a tensor came to be, for reverse-mode autograd. */
export interface GradNode {
  readonly op: string;
  /** The tensors the op read; backward returns one gradient (or null) per input. */
  readonly inputs: readonly Tensor[];
  /** Other tensors backward reads (kept alive by tidy until backward has run). */
  readonly saved: readonly Tensor[];
  readonly backward: (grad: Tensor) => readonly (Tensor | null)[];
  /**
   * Optional, for an op of one input whose backward returns a new tensor that nothing else holds
   * (slice: zeros with the gradient written where the slice was): adds the input's gradient
   * straight into `into`, a gradient of the input that only the backward pass holds, and returns
   * true; false, changing nothing, where it cannot. A fused projection's q, k and v slices then
   * write their gradients into one buffer instead of three padded ones summed.
   */
  readonly accumulate?: (into: Tensor, grad: Tensor) => boolean;
}

/**
 * A buffer shared by a tensor and its views; freed when the last of them is disposed. A storage
 * made by `empty()` allocates its (zeroed) buffer on first use, so a model built to be loaded holds
 * no memory for parameters the checkpoint's tensors will replace.
 */
export class Storage {
  refs = 0;
  private allocated: BackendBuffer | null;

  constructor(
    readonly backend: Backend,
    buffer: BackendBuffer | null,
    private readonly deferred?: { readonly size: number; readonly dtype: DType },
  ) {
    if (buffer === null && !deferred) throw new ArgumentError("Storage: expected a buffer or a size and dtype to allocate later");
    this.allocated = buffer;
  }

  get buffer(): BackendBuffer {
    return (this.allocated ??= this.backend.fill(this.deferred!.size, 0, this.deferred!.dtype));
  }

  /** False until a deferred buffer is first used. */
  get isAllocated(): boolean {
    return this.allocated !== null;
  }

  /** Drops one reference; frees the buffer when it was the last. */
  release(): void {
    if (--this.refs === 0 && this.allocated !== null) {
      this.backend.dispose(this.allocated);
      this.allocated = null;
    }
  }
}

export type Operand = Tensor | number;

/**
 * An immutable n-dimensional array on a backend: a strided view of a Storage. Ops return new
 * tensors; views (reshape, transpose, slice, expand) share storage and copy only when they must.
 */
// biome-ignore format: the op methods are a table, one line each
export class Tensor {
  readonly __isTensor = true;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
  readonly dtype: DType;
  readonly size: number;
  requiresGrad = false;
  grad: Tensor | null = null;
  node: GradNode | null = null;
  /** Exempt from tidy (see keep()). */
  kept = false;
  /** Survived a tidy scope only because an autograd graph needs it; backward() frees it. */
  graphOwned = false;
  private disposed = false;
  private storageRef: Storage;

  constructor(storage: Storage, shape: Shape, dtype: DType, strides?: readonly number[], offset = 0) {
    this.storageRef = storage;
    storage.refs++;
    // Copies, not frozen: V8 (Node 20) runs for-of, destructuring, slice and map over a frozen
    // array on slow paths that allocate (4-8x slower for a 3-element shape), and every op reads
    // shapes that way; sharing frozen arrays cost a decoding step ~20% of its JS (tiny-width GPT-2).
    this.shape = [...shape];
    this.strides = strides ? [...strides] : contiguousStrides(shape);
    this.offset = offset;
    this.dtype = dtype;
    this.size = sizeOf(shape);
    track(this);
  }

  get rank(): number {
    return this.shape.length;
  }
  get backend(): Backend {
    return this.storage.backend;
  }
  get storage(): Storage {
    if (this.disposed) throw new ArgumentError(`tensor of shape ${fmtShape(this.shape)} was disposed and cannot be used`);
    return this.storageRef;
  }
  get isDisposed(): boolean {
    return this.disposed;
  }
  /** True when the elements lie in row-major order from the start of the buffer with no gaps. */
  get isContiguous(): boolean {
    return isContiguous(this.shape, this.strides);
  }

  /** The description kernels take. */
  view(): StridedView;
  /** Same as reshape (torch's name). */
  view(...shape: number[] | [readonly number[]]): Tensor;
  view(...shape: number[] | [readonly number[]]): StridedView | Tensor {
    if (shape.length === 0) {
      return { buffer: this.storage.buffer, shape: this.shape, strides: this.strides, offset: this.offset };
    }
    return V.reshape(this, flatShape(shape));
  }

  // ---- reading and memory ----
  async data(): Promise<HostArray> {
    const { buffer, temp } = this.materialize();
    try {
      return await readSettlingChecks(this.backend, buffer);
    } finally {
      if (temp) this.backend.dispose(buffer);
    }
  }
  dataSync(): HostArray {
    const backend = this.backend;
    if (!backend.readSync) {
      throw new ArgumentError(`dataSync: the ${backend.name} backend cannot read synchronously; use await tensor.data()`);
    }
    const { buffer, temp } = this.materialize();
    try {
      return backend.readSync(buffer);
    } finally {
      if (temp) backend.dispose(buffer);
    }
  }
  /** The one element of a tensor of size 1, as a number. */
  async item(): Promise<number> {
    if (this.size !== 1) throw new ShapeError(`item: expected a tensor with one element, got shape ${fmtShape(this.shape)}`);
    return (await this.data())[0]!;
  }
  /** Nested arrays of numbers, shaped like the tensor. */
  async toArray(): Promise<unknown> {
    return nest(Array.from(await this.data()), this.shape);
  }
  private materialize(): { buffer: BackendBuffer; temp: boolean } {
    const buffer = this.storage.buffer;
    if (this.offset === 0 && this.isContiguous && buffer.size === this.size) return { buffer, temp: false };
    // a quantized tensor reads as its blocks' bytes in storage order, whatever view of them it is
    if (isQuantized(this.dtype) && this.offset === 0 && buffer.size === this.size) return { buffer, temp: false };
    return { buffer: this.backend.copy(this.view()), temp: true };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.node = null;
    this.storageRef.release();
  }
  keep(): this {
    return keepTensor(this);
  }

  // ---- autograd ----
  backward(grad?: Tensor, options: { retainGraph?: boolean } = {}): void {
    runBackward(this, grad, options.retainGraph ?? false);
  }
  zeroGrad(): void {
    this.grad?.dispose();
    this.grad = null;
  }
  /** A tensor sharing this one's data, outside the autograd graph. */
  detach(): Tensor {
    return new Tensor(this.storage, this.shape, this.dtype, this.strides, this.offset);
  }
  /** Marks a leaf as a parameter whose gradient backward() fills in. */
  requireGrad(flag = true): this {
    if (this.node) throw new ArgumentError("requireGrad: only leaf tensors (not results of ops) can be marked");
    if (flag && this.dtype !== "float32") throw new DTypeError(`requireGrad: only float32 tensors have gradients, got ${this.dtype}`);
    this.requiresGrad = flag;
    return this;
  }
  /** Replaces a leaf's value in place (optimizers use it); shape and dtype must match. */
  assign(value: Tensor): void {
    if (this.node) throw new ArgumentError("assign: only leaf tensors can be assigned");
    if (value.dtype !== this.dtype || value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(
        `assign: expected a ${this.dtype} tensor of shape ${fmtShape(this.shape)}, got ${value.dtype} ${fmtShape(value.shape)}`,
      );
    }
    this.replaceStorage(new Storage(this.backend, this.backend.copy(value.view())));
  }

  /**
   * Makes `value`'s data this leaf's value and disposes `value`: loading a checkpoint hands each
   * tensor it read to its parameter this way, so the model holds its weights once. The buffer
   * moves without a copy when `value` is the only tensor on a whole contiguous buffer of this
   * tensor's backend; otherwise it is copied (and cast to this tensor's dtype) first.
   */
  adopt(value: Tensor): void {
    if (this.node) throw new ArgumentError("adopt: only leaf tensors can adopt a value");
    if (value === this) return;
    if (value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(`adopt: expected a tensor of shape ${fmtShape(this.shape)}, got ${fmtShape(value.shape)}`);
    }
    const source = value.storage;
    const movable =
      value.dtype === this.dtype &&
      source.refs === 1 &&
      value.offset === 0 &&
      value.isContiguous &&
      source.buffer.size === value.size;
    if (source.backend !== this.backend) {
      throw new ArgumentError(`adopt: the value lives on the ${source.backend.name} backend, this tensor on ${this.backend.name}`);
    }
    if (movable) {
      this.replaceStorage(source); // value's dispose below drops only value's own reference
    } else {
      const converted = value.dtype === this.dtype ? value : value.cast(this.dtype);
      this.assign(converted);
      if (converted !== value) converted.dispose();
    }
    value.dispose();
  }

  /**
   * Makes `value` this leaf's value as it is (dtype, layout and buffer, no copy) and disposes
   * `value`: how a float32 weight becomes a float16 or quantized one in place (quantizeTensor,
   * a model loaded or quantized to a dtype), so the modules holding this tensor keep holding it.
   * A tensor whose new dtype is not float32 no longer requires grad. Shapes must match.
   */
  replaceWith(value: Tensor): void {
    if (this.node) throw new ArgumentError("replaceWith: only leaf tensors can be replaced");
    if (value === this) return;
    if (value.shape.length !== this.shape.length || value.shape.some((d, i) => d !== this.shape[i])) {
      throw new ShapeError(`replaceWith: expected a tensor of shape ${fmtShape(this.shape)}, got ${fmtShape(value.shape)}`);
    }
    if (value.storage.backend !== this.backend) {
      throw new ArgumentError(`replaceWith: the value lives on the ${value.backend.name} backend, this tensor on ${this.backend.name}`);
    }
    const storage = value.storage;
    storage.refs++;
    this.storageRef.release();
    this.storageRef = storage;
    (this as { strides: readonly number[] }).strides = value.strides;
    (this as { offset: number }).offset = value.offset;
    (this as { dtype: DType }).dtype = value.dtype;
    if (value.dtype !== "float32") {
      this.requiresGrad = false;
      this.zeroGrad();
    }
    value.dispose();
  }

  private replaceStorage(storage: Storage): void {
    storage.refs++;
    this.storageRef.release();
    this.storageRef = storage;
    (this as { strides: readonly number[] }).strides = contiguousStrides(this.shape);
    (this as { offset: number }).offset = 0;
  }

  // ---- elementwise ----
  add(other: Operand): Tensor { return E.binary("add", this, other); }
  sub(other: Operand): Tensor { return E.binary("sub", this, other); }
  mul(other: Operand): Tensor { return E.binary("mul", this, other); }
  div(other: Operand): Tensor { return E.binary("div", this, other); }
  pow(other: Operand): Tensor { return E.binary("pow", this, other); }
  maximum(other: Operand): Tensor { return E.binary("maximum", this, other); }
  minimum(other: Operand): Tensor { return E.binary("minimum", this, other); }
  eq(other: Operand): Tensor { return E.binary("eq", this, other); }
  ne(other: Operand): Tensor { return E.binary("ne", this, other); }
  lt(other: Operand): Tensor { return E.binary("lt", this, other); }
  le(other: Operand): Tensor { return E.binary("le", this, other); }
  gt(other: Operand): Tensor { return E.binary("gt", this, other); }
  ge(other: Operand): Tensor { return E.binary("ge", this, other); }
  logicalAnd(other: Operand): Tensor { return E.binary("and", this, other); }
  logicalOr(other: Operand): Tensor { return E.binary("or", this, other); }
  logicalNot(): Tensor { return E.unary("not", this); }
  neg(): Tensor { return E.unary("neg", this); }
  abs(): Tensor { return E.unary("abs", this); }
  sign(): Tensor { return E.unary("sign", this); }
  exp(): Tensor { return E.unary("exp", this); }
  log(): Tensor { return E.unary("log", this); }
  sqrt(): Tensor { return E.unary("sqrt", this); }
  rsqrt(): Tensor { return E.unary("rsqrt", this); }
  reciprocal(): Tensor { return E.unary("reciprocal", this); }
  tanh(): Tensor { return E.unary("tanh", this); }
  erf(): Tensor { return E.unary("erf", this); }
  sin(): Tensor { return E.unary("sin", this); }
  cos(): Tensor { return E.unary("cos", this); }
  floor(): Tensor { return E.unary("floor", this); }
  relu(): Tensor { return E.unary("relu", this); }
  sigmoid(): Tensor { return E.unary("sigmoid", this); }
  silu(): Tensor { return E.unary("silu", this); }
  /** GELU; `approximate: "tanh"` is GPT-2's gelu_new. */
  gelu(approximate: "none" | "tanh" = "none"): Tensor { return E.unary(approximate === "tanh" ? "gelu_tanh" : "gelu", this); }
  square(): Tensor { return E.binary("mul", this, this); }
  maskedFill(mask: Tensor, value: number): Tensor { return E.maskedFill(this, mask, value); }
  cast(dtype: DType): Tensor { return E.cast(this, dtype); }
  float(): Tensor { return E.cast(this, "float32"); }
  int(): Tensor { return E.cast(this, "int32"); }

  // ---- reductions ----
  sum(axis?: number | readonly number[], keepdim = false): Tensor { return R.reduce("sum", this, axis, keepdim); }
  mean(axis?: number | readonly number[], keepdim = false): Tensor { return R.mean(this, axis, keepdim); }
  max(axis?: number | readonly number[], keepdim = false): Tensor { return R.reduce("max", this, axis, keepdim); }
  min(axis?: number | readonly number[], keepdim = false): Tensor { return R.reduce("min", this, axis, keepdim); }
  prod(axis?: number | readonly number[], keepdim = false): Tensor { return R.reduce("prod", this, axis, keepdim); }
  var(axis?: number | readonly number[], keepdim = false, unbiased = false): Tensor { return R.variance(this, axis, keepdim, unbiased); }
  argmax(axis = -1, keepdim = false): Tensor { return R.argmax(this, axis, keepdim); }

  // ---- neural-network ops ----
  softmax(axis = -1): Tensor { return N.softmax(this, axis); }
  logSoftmax(axis = -1): Tensor { return N.logSoftmax(this, axis); }
  layerNorm(weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor { return N.layerNorm(this, weight, bias, eps); }
  rmsNorm(weight: Tensor | null, eps = 1e-6): Tensor { return N.rmsNorm(this, weight, eps); }
  matmul(other: Tensor): Tensor { return matmul(this, other); }

  // ---- views and layout ----
  reshape(...shape: number[] | [readonly number[]]): Tensor { return V.reshape(this, flatShape(shape)); }
  flatten(start = 0, end = -1): Tensor { return V.flatten(this, start, end); }
  transpose(a = -2, b = -1): Tensor { return V.transpose(this, a, b); }
  permute(...axes: number[] | [readonly number[]]): Tensor { return V.permute(this, flatShape(axes)); }
  slice(axis: number, start: number, end?: number, step = 1): Tensor { return V.slice(this, axis, start, end, step); }
  narrow(axis: number, start: number, length: number): Tensor { return V.slice(this, axis, start, start + length, 1); }
  expand(...shape: number[] | [readonly number[]]): Tensor { return V.expand(this, flatShape(shape)); }
  broadcastTo(...shape: number[] | [readonly number[]]): Tensor { return V.expand(this, flatShape(shape)); }
  unsqueeze(axis: number): Tensor { return V.unsqueeze(this, axis); }
  squeeze(axis?: number): Tensor { return V.squeeze(this, axis); }
  flip(axis: number): Tensor { return V.flip(this, axis); }
  contiguous(): Tensor { return V.contiguous(this); }

  // ---- indexing ----
  take(indices: Tensor, axis = 0): Tensor { return I.take(this, indices, axis); }
  takeAlongAxis(indices: Tensor, axis: number): Tensor { return I.takeAlongAxis(this, indices, axis); }
  cumsum(axis: number): Tensor { return I.cumsum(this, axis); }

  toString(): string {
    return `Tensor(${this.dtype}, ${fmtShape(this.shape)}${this.requiresGrad ? ", requiresGrad" : ""})`;
  }
}

function flatShape(args: number[] | [readonly number[]]): number[] {
  return args.length === 1 && Array.isArray(args[0]) ? [...(args[0] as readonly number[])] : (args as number[]);
}

function nest(values: number[], shape: Shape): unknown {
  if (shape.length === 0) return values[0];
  if (shape.length === 1) return values;
  const inner = sizeOf(shape.slice(1));
  return Array.from({ length: shape[0]! }, (_, i) => nest(values.slice(i * inner, (i + 1) * inner), shape.slice(1)));
}
