import type { Backend, BackendBuffer, BinaryOp, FusedKernels, ReduceOp, StridedView, UnaryOp } from "../backend.js";
import { elementsOfHost, isQuantized, QUANTIZED_DTYPES, type DType, type HostArray } from "../dtype.js";
import { attention, attentionGrad } from "./kernels/attention.js";
import { binary, unary, where } from "./kernels/elementwise.js";
import { bufferData, CpuBuffer } from "./buffer.js";
import { cast, convertArray, isHalf, toFloat32 } from "./kernels/cast.js";
import { ggmlGelu } from "./kernels/ggml_rounding.js";
import { concat, copy } from "./kernels/copy.js";
import { copyRoundedInto } from "./strided.js";
import { activationGrad } from "./kernels/activation_grad.js";
import { crossEntropyGrad, layerNorm, logSoftmax, logSoftmaxGrad, logSumExpRows, rmsNorm, softmax } from "./kernels/rows.js";
import { layerNormGrad, rmsNormGrad } from "./kernels/norm_grad.js";
import { adamwStep } from "./kernels/adamw.js";
import { gather, scatterAdd } from "./kernels/gather.js";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "./half.js";
import { matmul } from "./kernels/matmul.js";
import type { ActivationRounding } from "./kernels/matmul_stored.js";
import { copyQuantized, gatherQuantizedRows } from "./kernels/quantized.js";
import { allocUninit, allocZeroed, pooledArrayBytes, releasePooledArrays } from "./pool.js";
import { argmax, cumsum, reduce } from "./kernels/reduce.js";
import { wasmDisabledByEnv } from "./wasm/runtime.js";
import { useHeap, WasmHeap } from "./memory/heap.js";
import { copyViewInto, residentHalfCopyInto } from "./resident/copy.js";
import { forgetBlockScales } from "./resident/matmul_stored_q8.js";
import { activeRuntime, countFallback, CpuRuntime, residentStats, useRuntime } from "./resident/runtime.js";
import { residentGgmlGelu } from "./resident/ggml_gelu.js";
import { residentBinary, residentUnary } from "./resident/elementwise.js";
import { compileModulesAsync, hasRelaxedSimd } from "./resident/modules.js";
import { hardwareThreads, threadsFromEnv } from "./threads/platform.js";

export { CpuBuffer } from "./buffer.js";

/** Which host dtype an array already holds, when it matches `dtype` bit for bit. */
function matches(data: HostArray, dtype: DType): boolean {
  switch (dtype) {
    case "float32":
      return data instanceof Float32Array;
    case "int32":
      return data instanceof Int32Array;
    case "bool":
      return data instanceof Uint8Array;
    case "float16":
    case "bfloat16":
      return data instanceof Uint16Array;
    default:
      return data instanceof Uint8Array; // block-quantized: the blocks' bytes
  }
}

export interface CpuBackendOptions {
  /**
   * Keep tensors in WebAssembly memory and run the kernels there, with SIMD, where the runtime
   * has it (plain arrays and JS kernels otherwise). Defaults to on, unless the environment sets
   * LLM_TENSOR_WASM=0.
   */
  wasm?: boolean;
  /**
   * Threads the kernels split their work over, the calling thread included (default: the
   * machine's logical cores, or LLM_TENSOR_THREADS from the environment). Threads need
   * SharedArrayBuffer: where it is missing (a browser page that is not cross-origin isolated)
   * the backend runs on one thread and says so once. Results do not depend on the count.
   */
  threads?: number;
  /**
   * Bytes one WebAssembly memory may hold (default and most: 4 GiB, the wasm32 limit). Tensors
   * fill a memory, then the next; a model larger than one memory is spread over several.
   */
  maxMemoryBytes?: number;
  /**
   * Use relaxed SIMD's fused multiply-add in the matrix kernels (default: where the engine has
   * it). Results differ from the unfused kernels in the last bits; both are tested.
   */
  relaxedSimd?: boolean;
  /**
   * Work (multiply-adds or elements) a kernel gives each thread at least; smaller jobs use fewer
   * threads (default 65536). Tests set 0: every kernel splits, and each worker runs its part
   * (otherwise this thread runs the parts no worker has claimed by the time its own are done).
   */
  minWorkPerThread?: number;
  /**
   * Milliseconds an idle worker thread keeps polling for the next kernel before it sleeps (default
   * 1). Decoding calls a kernel every fraction of a millisecond, and a sleeping worker wakes too late
   * to help; 0 frees the cores at once between calls (a shared machine, a laptop on battery).
   */
  spinMs?: number;
  /**
   * "ggml": compute as llama.cpp's CPU backend does where it rounds: activations rounded before a
   * matmul with a float16, bfloat16 or quantized weight (to float16, or to Q8_0 / Q8_K blocks), and
   * GELU through its float16 table; so results match it up to summation order (for comparing with
   * it). Decoding over Q8_0, Q4_0, Q6_K, Q4_K and Q5_K weights then runs int8 dot products on the quantized
   * activations as llama.cpp does (faster than the float32 kernels). Default "none": activations
   * stay float32 (more exact).
   */
  activationRounding?: ActivationRounding;
}

/**
 * The CPU backend: tensors in WebAssembly memory (resident: kernels read weights where they are),
 * SIMD kernels split over worker threads, JS kernels where WASM is off or unavailable.
 */
export class CpuBackend implements Backend {
  readonly name = "cpu";
  // Each enters this backend first (its heap and threads), like the methods below.
  readonly fused: FusedKernels = {
    softmax: (x) => {
      this.enter();
      return softmax(x);
    },
    layerNorm: (x, w, b, eps) => {
      this.enter();
      return layerNorm(x, w, b, eps);
    },
    rmsNorm: (x, w, eps) => {
      this.enter();
      return rmsNorm(x, w, eps);
    },
    layerNormGrad: (x, w, g, eps, withBias) => {
      this.enter();
      return layerNormGrad(x, w, g, eps, withBias);
    },
    rmsNormGrad: (x, w, g, eps) => {
      this.enter();
      return rmsNormGrad(x, w, g, eps);
    },
    adamwStep: (param, grad, expAvg, expAvgSq, h) => {
      this.enter();
      return adamwStep(param, grad, expAvg, expAvgSq, h);
    },
    // float16 keys and values: the decode kernel reads them as stored, the rest widens them (kernels/attention.ts)
    attentionReadsHalves: true,
    attention: (q, k, v, mask, bias, scale) => {
      this.enter();
      return attention(q, k, v, mask, bias, scale, this.wasm, this.activationRounding === "ggml");
    },
    attentionGrad: (q, k, v, mask, bias, scale, g) => {
      this.enter();
      return attentionGrad(q, k, v, mask, bias, scale, g, this.wasm);
    },
    activationGrad: (op, x, g) => {
      this.enter();
      return activationGrad(op, x, g, this.wasm);
    },
    logSoftmax: (x) => {
      this.enter();
      return logSoftmax(x, this.wasm);
    },
    logSoftmaxGrad: (y, g) => {
      this.enter();
      return logSoftmaxGrad(y, g, this.wasm);
    },
    logSumExpRows: (x) => {
      this.enter();
      return logSumExpRows(x, this.wasm);
    },
    crossEntropyGrad: (x, shift, targets, g) => {
      this.enter();
      return crossEntropyGrad(x, shift, targets, g, this.wasm);
    },
  };
  readonly wasm: boolean;
  private readonly options: CpuBackendOptions;
  private state: { heap: WasmHeap | null; runtime: CpuRuntime | null } | null = null;

  readonly storedMatmulDTypes: readonly DType[] = ["float16", "bfloat16", ...QUANTIZED_DTYPES];

  /** See Backend.keepsFreedMemory: true with the WebAssembly heap (plain JS arrays go back to the garbage collector). */
  get keepsFreedMemory(): boolean {
    return this.wasm;
  }

  /** See CpuBackendOptions.activationRounding. */
  readonly activationRounding: ActivationRounding;

  constructor(options: CpuBackendOptions = {}) {
    this.wasm = options.wasm ?? !wasmDisabledByEnv();
    this.activationRounding = options.activationRounding ?? "none";
    // in ggml's numerics attention over a half KV cache rounds the query and the weights to its dtype too
    this.fused.attentionRoundsHalves = this.activationRounding === "ggml";
    for (const key of ["threads", "maxMemoryBytes", "minWorkPerThread"] as const) {
      const value = options[key];
      if (value !== undefined && !(Number.isInteger(value) && value >= (key === "minWorkPerThread" ? 0 : 1))) {
        throw new RangeError(
          `CpuBackend: ${key} must be a ${key === "minWorkPerThread" ? "non-negative" : "positive"} integer, found ${value}`,
        );
      }
    }
    if (options.spinMs !== undefined && !(Number.isFinite(options.spinMs) && options.spinMs >= 0)) {
      throw new RangeError(`CpuBackend: spinMs must be a non-negative number of milliseconds, found ${options.spinMs}`);
    }
    this.options = options;
  }

  /** Threads the kernels run on (1 where threads are unavailable or WASM is off). */
  get threads(): number {
    return this.enter().runtime?.threads ?? 1;
  }

  /** How many WebAssembly memories hold this backend's tensors (more than one: a model larger than one memory). */
  get memories(): number {
    return this.enter().heap?.arenas.length ?? 0;
  }

  /** Whether the matrix kernels use relaxed SIMD's fused multiply-add. */
  get relaxedSimd(): boolean {
    return this.enter().runtime?.fma ?? false;
  }

  /**
   * How often each resident WebAssembly kernel ran, and each product (or ggml's GELU) that fell
   * back to a slower path (a JS loop, or a kernel staging its operands) because no resident kernel
   * covers its layout, dtype or shape ("matmul float16", "gelu (ggml)", ...), since the process
   * started, over every CPU backend: a model whose `fallbacks` grow while it decodes is off the
   * fast path.
   */
  kernelCounts(): { kernels: Record<string, number>; fallbacks: Record<string, number> } {
    return { kernels: Object.fromEntries(residentStats.calls), fallbacks: Object.fromEntries(residentStats.fallbacks) };
  }

  /**
   * The WebAssembly kernel modules this backend has compiled so far: each compiles the first time
   * one of its kernels runs (a float32 model never compiles the quantized ones), or all at once
   * through ready() or on a browser page's main thread.
   */
  get compiledModules(): string[] {
    return this.state?.runtime?.compiledModules ?? [];
  }

  /** The heap and runtime, made on first use (a backend never used costs nothing). */
  private setup(): { heap: WasmHeap | null; runtime: CpuRuntime | null } {
    const heap = this.wasm ? WasmHeap.for({ maxMemoryBytes: this.options.maxMemoryBytes }) : null;
    let runtime: CpuRuntime | null = null;
    if (heap) {
      const threads = this.options.threads ?? threadsFromEnv() ?? hardwareThreads();
      const fma = this.options.relaxedSimd ?? hasRelaxedSimd();
      if (fma && !hasRelaxedSimd()) throw new Error("CpuBackend: relaxedSimd was asked for, but this engine has no relaxed SIMD");
      runtime = new CpuRuntime(heap, {
        threads,
        fma,
        minWorkPerThread: this.options.minWorkPerThread ?? 1 << 16,
        spinMs: this.options.spinMs,
      });
      if (!runtime.ready) runtime = null;
    }
    return { heap, runtime };
  }

  /** Makes this backend's heap and runtime the ones kernels use; every method starts here. */
  private enter(): { heap: WasmHeap | null; runtime: CpuRuntime | null } {
    const state = (this.state ??= this.setup());
    useHeap(state.heap);
    useRuntime(state.runtime);
    return state;
  }

  /**
   * Compiles the kernels without blocking and starts the worker threads, resolving once they run.
   * Optional in Node (everything starts on first use there); in a browser, call it before the
   * first op: a page's main thread may neither compile modules this large synchronously nor wait
   * for workers, so without it the backend runs the JS kernels, then one thread until the
   * workers are up.
   */
  async ready(): Promise<void> {
    if (this.state === null && this.wasm) {
      const heap = WasmHeap.for({ maxMemoryBytes: this.options.maxMemoryBytes });
      if (heap) {
        const fma = this.options.relaxedSimd ?? hasRelaxedSimd();
        await compileModulesAsync(heap.shared, fma);
      }
    }
    await this.enter().runtime?.start();
  }

  /** Stops this backend's worker threads (they start again on the next threaded kernel). */
  close(): void {
    this.state?.runtime?.close();
  }

  /**
   * Disposed arrays are kept (up to 1 GiB) and reused, since a training step frees and re-makes
   * the same activation-sized buffers; this hands that idle memory back to the garbage collector.
   */
  releaseMemory(): void {
    releasePooledArrays();
  }

  /** Bytes of disposed arrays held for reuse. */
  get pooledBytes(): number {
    return pooledArrayBytes();
  }

  upload(data: HostArray, dtype: DType): BackendBuffer {
    this.enter();
    if (matches(data, dtype)) {
      const copy = allocUninit(dtype, elementsOfHost(dtype, data.length));
      copy.set(data);
      if (dtype === "bool") for (let i = 0; i < copy.length; i++) copy[i] = copy[i] !== 0 ? 1 : 0;
      return new CpuBuffer(copy, dtype);
    }
    // A Uint16Array for a half type is raw bits (handled above); anything else is numbers.
    const from: DType = data instanceof Float32Array ? "float32" : data instanceof Int32Array ? "int32" : "bool";
    return new CpuBuffer(convertArray(data, from, dtype), dtype);
  }

  adopt(data: HostArray, dtype: DType): BackendBuffer {
    const { heap } = this.enter();
    // bool arrays may hold values other than 0/1, which upload normalises; an array outside this
    // backend's WebAssembly memory is copied in, where the kernels read it (allocateHost avoids that)
    const keep = matches(data, dtype) && dtype !== "bool" && (heap === null || heap.locate(data) !== null);
    return keep ? new CpuBuffer(data, dtype) : this.upload(data, dtype);
  }

  allocateHost(dtype: DType, size: number): HostArray {
    this.enter();
    return allocUninit(dtype, size);
  }

  fill(size: number, value: number, dtype: DType): BackendBuffer {
    this.enter();
    if (isQuantized(dtype) && value !== 0) throw new Error(`cpu backend: fill of ${dtype} takes only 0 (zero blocks), found ${value}`);
    const data = allocZeroed(dtype, size);
    if (isHalf(dtype)) data.fill(dtype === "float16" ? float32ToFloat16Bits(value) : float32ToBfloat16Bits(value));
    else if (dtype === "bool") data.fill(value !== 0 ? 1 : 0);
    else if (value !== 0) data.fill(value); // fresh typed arrays are already zero
    return new CpuBuffer(data, dtype);
  }

  read(buffer: BackendBuffer): Promise<HostArray> {
    try {
      return Promise.resolve(this.readSync(buffer));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  readSync(buffer: BackendBuffer): HostArray {
    return bufferData(buffer).slice();
  }

  dispose(buffer: BackendBuffer): void {
    bufferData(buffer); // reject foreign buffers; disposing twice is an error too
    (buffer as CpuBuffer).dispose();
  }

  copy(x: StridedView): BackendBuffer {
    this.enter();
    return isQuantized(x.buffer.dtype) ? copyQuantized(x) : copy(x);
  }

  writeInto(dst: StridedView, x: StridedView): void {
    this.enter();
    const to = dst.buffer.dtype;
    if (to !== x.buffer.dtype) {
      const into = bufferData(dst.buffer) as Uint16Array;
      if (to === "bfloat16" || !residentHalfCopyInto("encode", x, into, dst.offset, dst.strides)) {
        copyRoundedInto(x, into, dst.offset, dst.strides, to === "bfloat16");
      }
    } else {
      // a quantized weight written in place: what the GEMVs learned of its scales no longer holds
      if (isQuantized(to)) forgetBlockScales(bufferData(dst.buffer));
      copyViewInto(x, bufferData(dst.buffer), dst.offset, dst.strides);
    }
  }

  cast(x: StridedView, dtype: DType): BackendBuffer {
    this.enter();
    return cast(x, dtype);
  }

  unary(op: UnaryOp, x: StridedView): BackendBuffer {
    this.enter();
    if (this.activationRounding === "ggml" && (op === "gelu" || op === "gelu_tanh") && x.buffer.dtype === "float32") {
      const resident = this.wasm ? residentGgmlGelu(x) : null;
      if (resident !== null) return new CpuBuffer(resident, "float32");
      if (activeRuntime() !== null) countFallback("gelu (ggml)");
      return new CpuBuffer(ggmlGelu(toFloat32(x)), "float32");
    }
    return unary(op, x, this.wasm);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): BackendBuffer {
    this.enter();
    return binary(op, a, b);
  }

  // in place on the resident kernels only (float32 in WebAssembly memory); declined otherwise
  unaryInPlace(op: UnaryOp, x: StridedView): boolean {
    this.enter();
    if (!this.wasm || (this.activationRounding === "ggml" && (op === "gelu" || op === "gelu_tanh"))) return false;
    return residentUnary(op, x, true) !== null;
  }

  binaryInPlace(op: BinaryOp, a: StridedView, b: StridedView): boolean {
    this.enter();
    return this.wasm && residentBinary(op, a, b, true) !== null;
  }

  where(cond: StridedView, a: StridedView, b: StridedView): BackendBuffer {
    this.enter();
    return where(cond, a, b);
  }

  reduce(op: ReduceOp, x: StridedView, axes: readonly number[]): BackendBuffer {
    this.enter();
    return reduce(op, x, axes);
  }

  argmax(x: StridedView, axis: number): BackendBuffer {
    this.enter();
    return argmax(x, axis);
  }

  cumsum(x: StridedView, axis: number): BackendBuffer {
    this.enter();
    return cumsum(x, axis);
  }

  matmul(a: StridedView, b: StridedView): BackendBuffer {
    this.enter();
    return matmul(a, b, this.wasm, this.activationRounding);
  }

  gather(x: StridedView, indices: StridedView, axis: number): BackendBuffer {
    this.enter();
    return isQuantized(x.buffer.dtype) ? gatherQuantizedRows(x, indices) : gather(x, indices, axis);
  }

  scatterAdd(updates: StridedView, indices: StridedView, axis: number, shape: readonly number[]): BackendBuffer {
    this.enter();
    return scatterAdd(updates, indices, axis, shape);
  }

  concat(xs: readonly StridedView[], axis: number): BackendBuffer {
    this.enter();
    return concat(xs, axis);
  }
}

export const cpuBackend = new CpuBackend();
