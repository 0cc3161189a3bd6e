import type { Backend, BackendBuffer, BinaryOp, FusedKernels, ReduceOp, StridedView, UnaryOp } from "../backend.js";
import { elementsOfHost, isQuantized, type DType, type HostArray } from "../dtype.js";
import { attention } from "./kernels/attention.js";
import { binary, unary, where } from "./kernels/elementwise.js";
import { bufferData, CpuBuffer } from "./buffer.js";
import { cast, convertArray, isHalf, toFloat32 } from "./kernels/cast.js";
import { ggmlGelu } from "./kernels/ggml_rounding.js";
import { concat, copy } from "./kernels/copy.js";
import { copyInto } from "./strided.js";
import { activationGrad } from "./kernels/activation_grad.js";
import { layerNorm, logSoftmax, logSoftmaxGrad, rmsNorm, softmax } from "./kernels/rows.js";
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
   * Run float32 matmuls on the WebAssembly SIMD kernel where the runtime has it (the JS kernels
   * otherwise). Defaults to on, unless the environment sets LLM_TENSOR_WASM=0.
   */
  wasm?: boolean;
  /**
   * "ggml": compute as llama.cpp's CPU backend does where it rounds: activations rounded before a
   * matmul with a float16, bfloat16 or quantized weight (to float16, or to Q8_0 / Q8_K blocks), and
   * GELU through its float16 table; so results match it up to summation order (for comparing with
   * it). Default "none": activations stay float32 (more exact).
   */
  activationRounding?: ActivationRounding;
}

/** The reference backend: plain typed arrays, synchronous kernels, single-threaded. */
export class CpuBackend implements Backend {
  readonly name = "cpu";
  readonly fused: FusedKernels = {
    softmax,
    layerNorm,
    rmsNorm,
    layerNormGrad,
    rmsNormGrad,
    adamwStep,
    // Read at call time: `wasm` is set by the constructor, after this initialiser runs.
    attention: (q, k, v, mask, bias, scale) => attention(q, k, v, mask, bias, scale, this.wasm),
    activationGrad: (op, x, g) => activationGrad(op, x, g, this.wasm),
    logSoftmax: (x) => logSoftmax(x, this.wasm),
    logSoftmaxGrad: (y, g) => logSoftmaxGrad(y, g, this.wasm),
  };
  readonly wasm: boolean;
  readonly storedMatmulDTypes: readonly DType[] = ["float16", "bfloat16", "q8_0", "q4_0", "q4_k", "q6_k"];

  /** See CpuBackendOptions.activationRounding. */
  readonly activationRounding: ActivationRounding;

  constructor(options: CpuBackendOptions = {}) {
    this.wasm = options.wasm ?? !wasmDisabledByEnv();
    this.activationRounding = options.activationRounding ?? "none";
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
    // bool arrays may hold values other than 0/1, which upload normalises
    return matches(data, dtype) && dtype !== "bool" ? new CpuBuffer(data, dtype) : this.upload(data, dtype);
  }

  fill(size: number, value: number, dtype: DType): BackendBuffer {
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
    return isQuantized(x.buffer.dtype) ? copyQuantized(x) : copy(x);
  }

  writeInto(dst: StridedView, x: StridedView): void {
    copyInto(x, bufferData(dst.buffer), dst.offset, dst.strides);
  }

  cast(x: StridedView, dtype: DType): BackendBuffer {
    return cast(x, dtype);
  }

  unary(op: UnaryOp, x: StridedView): BackendBuffer {
    if (this.activationRounding === "ggml" && (op === "gelu" || op === "gelu_tanh") && x.buffer.dtype === "float32") {
      return new CpuBuffer(ggmlGelu(toFloat32(x)), "float32");
    }
    return unary(op, x, this.wasm);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): BackendBuffer {
    return binary(op, a, b);
  }

  where(cond: StridedView, a: StridedView, b: StridedView): BackendBuffer {
    return where(cond, a, b);
  }

  reduce(op: ReduceOp, x: StridedView, axes: readonly number[]): BackendBuffer {
    return reduce(op, x, axes);
  }

  argmax(x: StridedView, axis: number): BackendBuffer {
    return argmax(x, axis);
  }

  cumsum(x: StridedView, axis: number): BackendBuffer {
    return cumsum(x, axis);
  }

  matmul(a: StridedView, b: StridedView): BackendBuffer {
    return matmul(a, b, this.wasm, this.activationRounding);
  }

  gather(x: StridedView, indices: StridedView, axis: number): BackendBuffer {
    return isQuantized(x.buffer.dtype) ? gatherQuantizedRows(x, indices) : gather(x, indices, axis);
  }

  scatterAdd(updates: StridedView, indices: StridedView, axis: number, shape: readonly number[]): BackendBuffer {
    return scatterAdd(updates, indices, axis, shape);
  }

  concat(xs: readonly StridedView[], axis: number): BackendBuffer {
    return concat(xs, axis);
  }
}

export const cpuBackend = new CpuBackend();
