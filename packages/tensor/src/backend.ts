import type { DType, HostArray } from "./dtype.js";

/**
 * The Backend interface: the few primitive kernels a device must provide.
 *
 * Every op on Tensor and every gradient is composed from these, so a new backend gets the whole
 * library (autograd included) by implementing them. Rules every kernel follows:
 *  - Inputs are strided views (`StridedView`): shape, strides in elements (may be 0 for broadcast,
 *    negative for flips), and an element offset into a buffer. Kernels must honour them.
 *  - Outputs are always new, contiguous (row-major) buffers. Kernels never mutate inputs.
 *  - Kernels are enqueued synchronously and return a handle at once; only `read` is async, so data
 *    may live off the CPU. `readSync` exists only where the backend can do it.
 *  - Shapes and dtypes are already checked by the Tensor layer; kernels may assume valid input.
 */
export interface BackendBuffer {
  /** Number of elements. */
  readonly size: number;
  readonly dtype: DType;
}

export interface StridedView {
  readonly buffer: BackendBuffer;
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

export type UnaryOp =
  | "neg"
  | "abs"
  | "sign"
  | "exp"
  | "log"
  | "sqrt"
  | "rsqrt"
  | "reciprocal"
  | "tanh"
  | "erf"
  | "sin"
  | "cos"
  | "relu"
  | "sigmoid"
  | "silu"
  /** exact GELU: x * Φ(x) */
  | "gelu"
  /** GPT-2's tanh approximation: 0.5 x (1 + tanh(√(2/π)(x + 0.044715 x³))) */
  | "gelu_tanh"
  | "floor"
  /** logical not, for bool */
  | "not";

/** Arithmetic ops keep the input dtype; comparison ops return bool; and/or take and return bool. */
export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "maximum"
  | "minimum"
  | "eq"
  | "ne"
  | "lt"
  | "le"
  | "gt"
  | "ge"
  | "and"
  | "or";

export type ReduceOp = "sum" | "max" | "min" | "prod";

export interface Backend {
  readonly name: string;

  // ---- memory ----
  /** Copies host data into a new buffer of this backend. `data` is not retained. */
  upload(data: HostArray, dtype: DType): BackendBuffer;
  /**
   * Takes a host array as a buffer without copying it; the caller gives the array up. Optional:
   * where absent (or for arrays a backend cannot keep), `upload` copies. Loading a checkpoint reads
   * each tensor into a fresh array and hands it over this way, so the bytes are held once.
   */
  adopt?(data: HostArray, dtype: DType): BackendBuffer;
  /**
   * An array of `size` elements (any contents) that `adopt` then takes as it is: a loader reads a
   * tensor straight into it, so the bytes land where the backend keeps them (the CPU backend's
   * WebAssembly memory) with no second copy. Optional: where absent, loaders make plain arrays.
   */
  allocateHost?(dtype: DType, size: number): HostArray;
  /** A new buffer of `size` elements all equal to `value`. */
  fill(size: number, value: number, dtype: DType): BackendBuffer;
  /** Reads a whole buffer back to the host. */
  read(buffer: BackendBuffer): Promise<HostArray>;
  /**
   * Reads several buffers back with one device round trip (one staging copy, one map). Optional:
   * where absent, each is read on its own. A decoding step reads its id and the queued index
   * checks this way.
   */
  readMany?(buffers: readonly BackendBuffer[]): Promise<HostArray[]>;
  /** Synchronous read; absent where the device cannot do it (WebGPU). */
  readSync?(buffer: BackendBuffer): HostArray;
  /** Frees a buffer. Using it afterwards is an error. */
  dispose(buffer: BackendBuffer): void;

  // ---- primitive kernels (outputs contiguous, shape = the view's shape unless stated) ----
  /** Materialises a strided view as a contiguous buffer. */
  copy(x: StridedView): BackendBuffer;
  /**
   * Copies x into the elements `dst` views (same shape and dtype; or x float32 and dst float16 or
   * bfloat16, each value rounded to nearest even as cast rounds) in place, for a buffer that grows
   * step by step (a KV cache) without a fresh copy of all of it per step. Optional: without it,
   * callers concatenate.
   */
  writeInto?(dst: StridedView, x: StridedView): void;
  /** Converts element type; float16/bfloat16 round to nearest even on the way in. */
  cast(x: StridedView, dtype: DType): BackendBuffer;
  unary(op: UnaryOp, x: StridedView): BackendBuffer;
  /** `a` and `b` have the same shape (broadcasting is done with stride-0 views). */
  binary(op: BinaryOp, a: StridedView, b: StridedView): BackendBuffer;
  /**
   * `unary` / `binary` written over x's (a's) own elements, for inference that frees its input
   * right after: the result then takes no memory of its own. x (a) is contiguous and nothing else
   * reads its elements. Optional, and free to decline (false, nothing written): the caller then
   * runs unary / binary.
   */
  unaryInPlace?(op: UnaryOp, x: StridedView): boolean;
  binaryInPlace?(op: BinaryOp, a: StridedView, b: StridedView): boolean;
  /** cond is bool; a and b share dtype; all three have the same shape. */
  where(cond: StridedView, a: StridedView, b: StridedView): BackendBuffer;
  /** Reduces over `axes` (sorted, unique). Output shape = input shape with those axes set to 1. */
  reduce(op: ReduceOp, x: StridedView, axes: readonly number[]): BackendBuffer;
  /** Index of the max along `axis` (first on ties), int32; output shape has that axis set to 1. */
  argmax(x: StridedView, axis: number): BackendBuffer;
  /** Inclusive prefix sum along `axis`. */
  cumsum(x: StridedView, axis: number): BackendBuffer;
  /**
   * Batched matmul: a [...batch, M, K] x b [...batch, K, N] -> [...batch, M, N]. Both inputs have
   * the same rank and the same batch dims (broadcast batches arrive as stride-0 views). Transposed
   * operands arrive as strided views, not copies.
   */
  matmul(a: StridedView, b: StridedView): BackendBuffer;
  /**
   * The dtypes `matmul` also takes for b while a is float32: a weight kept as stored (float16,
   * bfloat16, block-quantized), read as it is with float32 accumulation, float32 out. b is then one
   * [K, N] matrix (batch dims stride 0); a block type has its blocks along K (b's K stride 1).
   * Absent or without a dtype: the Tensor layer widens half weights per call, and refuses blocks.
   */
  readonly storedMatmulDTypes?: readonly DType[];
  /**
   * True where a freed buffer's physical memory stays with the process (the CPU backend's
   * WebAssembly memories never shrink): a cache may then keep buffers it is done with for its next
   * use, at no cost, rather than free them (KV caches do). Absent: freeing gives memory back.
   */
  readonly keepsFreedMemory?: boolean;
  /**
   * out[i0.., j, k..] = x[i0.., indices[j], k..] along `axis`; indices is int32 of any shape, which
   * replaces the axis in the output shape (like numpy.take). Indices are in range.
   */
  gather(x: StridedView, indices: StridedView, axis: number): BackendBuffer;
  /**
   * The adjoint of gather: a zero tensor of `shape` into which `updates` (shape of gather's output)
   * are added at `indices` along `axis`; repeated indices accumulate.
   */
  scatterAdd(updates: StridedView, indices: StridedView, axis: number, shape: readonly number[]): BackendBuffer;
  /** Joins views of the same dtype along `axis`; other dims are equal. */
  concat(xs: readonly StridedView[], axis: number): BackendBuffer;

  // ---- optional fused kernels: chosen when present, composed from primitives otherwise ----
  fused?: FusedKernels;
}

/** What a fused norm backward returns: dx, and the parameter gradients asked for (else null). */
export interface NormGrads {
  dx: BackendBuffer;
  dweight: BackendBuffer | null;
  dbias: BackendBuffer | null;
}

/** The scalars of one AdamW step (FusedKernels.adamwStep); step counts from 1. */
export interface AdamWStep {
  lr: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
  step: number;
}

export interface AdamWBuffers {
  param: BackendBuffer;
  expAvg: BackendBuffer;
  expAvgSq: BackendBuffer;
}

/**
 * The per-row steps of FusedKernels.sampleTokens, with neutral values where a step is off:
 * temperature 1, topK 0, topP 1, minP 0, repetitionPenalty 1.
 */
export interface TokenSampling {
  greedy: boolean;
  temperature: number;
  topK: number;
  topP: number;
  minP: number;
  repetitionPenalty: number;
}

/** Activations whose backward a backend may fuse (FusedKernels.activationGrad). */
export type FusedActivation = "gelu" | "gelu_tanh" | "silu";

export interface FusedKernels {
  /** softmax over the last axis; -Infinity entries give 0, an all -Infinity row gives 0s (not NaN). */
  softmax?(x: StridedView): BackendBuffer;
  logSoftmax?(x: StridedView): BackendBuffer;
  /** LayerNorm over the last axis; weight/bias have the last axis' size. */
  layerNorm?(x: StridedView, weight: StridedView | null, bias: StridedView | null, eps: number): BackendBuffer;
  rmsNorm?(x: StridedView, weight: StridedView | null, eps: number): BackendBuffer;
  /**
   * The backward of an activation in one pass: g * f'(x), float32, contiguous, x's shape (g has
   * it too). Autograd composes the same from forward ops when a backend lacks it; for GELU that
   * is about a dozen full-size passes.
   */
  activationGrad?(op: FusedActivation, x: StridedView, g: StridedView): BackendBuffer;
  /**
   * The backward of layerNorm (as the forward: biased variance, last axis): dx of x's shape, and
   * the sums over rows of g * xhat (for the weight, when there is one) and of g (for the bias,
   * when withBias). Float32, contiguous.
   */
  layerNormGrad?(x: StridedView, weight: StridedView | null, g: StridedView, eps: number, withBias: boolean): NormGrads;
  /** The backward of rmsNorm: dx, and the sum over rows of g * x * rstd when there is a weight. */
  rmsNormGrad?(x: StridedView, weight: StridedView | null, g: StridedView, eps: number): NormGrads;
  /**
   * One AdamW step of one float32 parameter in one pass, with the float32 rounding of each op of
   * torch.optim.AdamW's single-tensor path (so it equals the op-by-op composition bit for bit);
   * expAvg/expAvgSq null on the first step. Returns the new parameter and moments, contiguous.
   */
  adamwStep?(param: StridedView, grad: StridedView, expAvg: StridedView | null, expAvgSq: StridedView | null, h: AdamWStep): AdamWBuffers;
  /** The backward of logSoftmax over the last axis, from its output y: g - exp(y) * sum(g), float32, contiguous. */
  logSoftmaxGrad?(y: StridedView, g: StridedView): BackendBuffer;
  /**
   * Each row's log-sum-exp over the last axis, max + log sum e^(x - max), rounded to float32 as
   * logSoftmax's shift is (+Infinity for a row of -Infinity): float32 [rows]. With crossEntropyGrad,
   * cross-entropy without the log-probabilities or their gradient in memory.
   */
  logSumExpRows?(x: StridedView): BackendBuffer;
  /**
   * Cross-entropy's gradient at the logits x [rows, vocab] from each row's shift (logSumExpRows),
   * int32 target and upstream gradient g (float32 [rows]): e^(x - shift) g, minus g at the target;
   * float32, contiguous. Equal to logSoftmax's backward of the targets' picked gradient.
   */
  crossEntropyGrad?(x: StridedView, shift: StridedView, targets: StridedView, g: StridedView): BackendBuffer;
  /**
   * The decoding draw in one dispatch (see the sampleTokens op for the exact steps): logits
   * float32 [batch, vocab]; seen int32 [batch, n] (distinct ids per row, -1 pads) or null;
   * uniforms float32 [batch] or null when greedy. Returns int32 [batch]: the ids, -1 for a row
   * whose every token was removed, -2 for a row holding NaN or +Infinity.
   */
  sampleTokens?(logits: StridedView, seen: StridedView | null, uniforms: StridedView | null, p: TokenSampling): BackendBuffer;
  /**
   * Whether `attention` also takes k and v as float16 or bfloat16 (a half KV cache), reading their
   * values; without it the op widens them to float32 first.
   */
  attentionReadsHalves?: boolean;
  /**
   * Whether attention over half keys and values rounds the query to the keys' dtype and the
   * softmax's weights to the values' (llama.cpp's products with a half KV cache: the CPU backend in
   * its "ggml" activation rounding). The op does the same where it composes attention itself.
   */
  attentionRoundsHalves?: boolean;
  /**
   * softmax(q k^T * scale + bias, masked) v, float32 in and out:
   *  - q [B, H, T, D]; k and v [B, Hkv, S, D] with H % Hkv == 0: query head h reads kv head
   *    floor(h / (H / Hkv)) (multi-head, grouped-query, multi-query).
   *  - mask: bool of shape [B, H, T, S] (broadcast dims have stride 0), true where the query may
   *    attend to the key; null = every key.
   *  - bias: float32 of shape [B, H, T, S] (stride 0 where broadcast), added after the scale and
   *    before the mask (ALiBi); null = none.
   * Output: contiguous [B, H, T, D]. A row whose keys are all masked gives zeros (as softmax does).
   * q, k and v are strided views like every input (head transposes, KV-cache concatenations).
   */
  attention?(
    q: StridedView,
    k: StridedView,
    v: StridedView,
    mask: StridedView | null,
    bias: StridedView | null,
    scale: number,
  ): BackendBuffer;
  /**
   * The backward of `attention` in one kernel, from the forward's operands and g, the output's
   * gradient ([B, H, T, D]): dq [B, H, T, D], dk and dv [B, Hkv, S, D] (summed over the query
   * heads sharing a kv head), float32, contiguous. The bias is read, not differentiated. Null
   * where the backend declines these operands: the op then composes the backward from primitives.
   */
  attentionGrad?(
    q: StridedView,
    k: StridedView,
    v: StridedView,
    mask: StridedView | null,
    bias: StridedView | null,
    scale: number,
    g: StridedView,
  ): AttentionGrads | null;
}

/** What a fused attention backward returns (FusedKernels.attentionGrad). */
export interface AttentionGrads {
  dq: BackendBuffer;
  dk: BackendBuffer;
  dv: BackendBuffer;
}
