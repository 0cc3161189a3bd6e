import {
  elementsOfHost,
  isHalfDType,
  isQuantized,
  type Backend,
  type BackendBuffer,
  type BinaryOp,
  type DType,
  type FusedKernels,
  type HostArray,
  type ReduceOp,
  type StridedView,
  type UnaryOp,
} from "@llm/tensor";
import { BufferPool, type PoolStats } from "./buffer-pool.js";
import { CommandBatcher, UNIFORM_USAGE } from "./command-batcher.js";
import { WebGPUDeviceError, WebGPUKernelError } from "./errors.js";
import { BufferUsage, MapMode } from "./gpu-constants.js";
import { WebGPUBuffer } from "./gpu-buffer.js";
import type { KernelContext, KernelFeatures } from "./kernel-context.js";
import { PipelineCache } from "./pipeline-cache.js";
import { BYTES_PER_WORD, fromWords, GPU_BLOCK_DTYPES, toWords, wordsFor } from "./storage.js";
import { activationGrad, binary, cast, concat, copy, fill, unary, where, writeInto } from "./kernels/elementwise.js";
import { gather, scatterAdd } from "./kernels/gather.js";
import { matmul, type TileConfig } from "./kernels/matmul.js";
import type { Vec4TileConfig } from "./kernels/matmul-vec4.js";
import { argmax, cumsum, reduce } from "./kernels/reduce.js";
import { rowKernel } from "./kernels/rows.js";
import { normGrad } from "./kernels/norm-grad.js";
import { adamwStep } from "./kernels/adamw.js";
import { attention, type AttentionKernel } from "./kernels/attention.js";
import { sampleTokens } from "./kernels/sample.js";
import { dequantize, gatherBlockRows } from "./kernels/stored.js";
import { contiguousStrides } from "./layout.js";

function isBlocks(dtype: DType): boolean {
  return GPU_BLOCK_DTYPES.includes(dtype);
}

/** A block (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K) view cast: dequantized to float32, then cast on when another float type is asked for. */
function dequantizeTo(ctx: KernelContext, x: StridedView, dtype: DType): BackendBuffer {
  const wide = dequantize(ctx, x);
  if (dtype === "float32") return wide;
  const out = cast(ctx, { buffer: wide, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
  ctx.free(wide);
  return out;
}

const STORAGE_USAGE = BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST;
const STAGING_USAGE = BufferUsage.MAP_READ | BufferUsage.COPY_DST;

export interface WebGPUBackendStats {
  /** Tensor buffers created and not yet disposed: the number a leak-free loop keeps constant. */
  liveBuffers: number;
  storage: PoolStats;
  pipelines: number;
  /** Milliseconds spent creating pipelines so far. */
  compileMs: number;
  submits: number;
  /** Device reads so far (each one mapAsync of a staging buffer): a decoding step makes one. */
  reads: number;
  /**
   * Bytes of tensor buffers handed out so far, outputs and kernels' scratch alike (pooled or new):
   * the difference across an op is what it allocated, however soon it freed it.
   */
  allocatedBytes: number;
}

export interface WebGPUBackendInit {
  device: GPUDevice;
  adapterInfo?: GPUAdapterInfo;
  features: KernelFeatures;
  /** Destroy the device in `destroy()` (true when the backend requested it itself). */
  ownsDevice: boolean;
  /** Objects that must stay reachable while the device lives (Dawn's GPU instance). */
  keepAlive?: unknown;
}

/**
 * The Backend interface on a GPUDevice. Kernels are recorded, not run: they go to the GPU in
 * batches (see CommandBatcher) and only `read` waits. Every kernel writes a new pooled buffer.
 */
export class WebGPUBackend implements Backend {
  readonly name = "webgpu";
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo | undefined;
  readonly features: KernelFeatures;
  /** A CPU implementation (SwiftShader, llvmpipe, WARP): correct but slow; pick small sizes. */
  readonly isSoftware: boolean;
  readonly fused: FusedKernels;
  /**
   * The fused attention's kernel: "auto" picks by shape (the row kernel for up to 4 queries, the
   * tiled one from TILED_MIN_SCORES scores per head, two GEMMs around a row pass between and for
   * heads wider than 512); the others force one (tests and benchmarks).
   */
  attentionKernel: AttentionKernel = "auto";
  private readonly storage: BufferPool;
  private readonly staging: BufferPool;
  private readonly uniforms: BufferPool;
  private readonly pipelines: PipelineCache;
  private readonly batcher: CommandBatcher;
  private readonly ctx: KernelContext;
  private readonly tables = new Map<string, GPUBuffer>();
  private readonly ownsDevice: boolean;
  private readonly deviceErrors: string[] = [];
  private live = 0;
  private reads = 0;
  private allocatedBytes = 0;
  private lost: string | null = null;
  readonly keepAlive: unknown;

  constructor(init: WebGPUBackendInit) {
    const device = (this.device = init.device);
    this.adapterInfo = init.adapterInfo;
    const info = init.adapterInfo;
    this.isSoftware =
      !!info &&
      ((info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true ||
        /swiftshader|llvmpipe|lavapipe|warp|microsoft basic/i.test(
          `${info.vendor} ${info.architecture} ${info.device} ${info.description}`,
        ));
    this.features = init.features;
    this.ownsDevice = init.ownsDevice;
    this.keepAlive = init.keepAlive;
    this.storage = new BufferPool(device, STORAGE_USAGE, "tensor");
    this.staging = new BufferPool(device, STAGING_USAGE, "staging", 64 * 1024 * 1024);
    this.uniforms = new BufferPool(device, UNIFORM_USAGE, "uniforms");
    this.pipelines = new PipelineCache(device);
    this.batcher = new CommandBatcher(device, this.pipelines, this.uniforms);
    device.addEventListener("uncapturederror", (e) => {
      this.deviceErrors.push((e as GPUUncapturedErrorEvent).error.message);
    });
    void device.lost.then((info) => {
      this.lost = info.message || info.reason;
    });
    const limits = device.limits;
    this.ctx = {
      batcher: this.batcher,
      alloc: (size, dtype) => this.alloc(size, dtype),
      buffer: (view) => this.gpuBuffer(view.buffer),
      free: (b) => this.dispose(b),
      table: (name, bytes) => this.table(name, bytes),
      features: this.features,
      limits: { maxWorkgroupSize: limits.maxComputeInvocationsPerWorkgroup, maxWorkgroupStorage: limits.maxComputeWorkgroupStorageSize },
    };
    const ctx = this.ctx;
    this.fused = {
      softmax: (x) => rowKernel(ctx, "softmax", x),
      logSoftmax: (x) => rowKernel(ctx, "logSoftmax", x),
      layerNorm: (x, weight, bias, eps) => rowKernel(ctx, "layerNorm", x, { weight, bias, eps }),
      rmsNorm: (x, weight, eps) => rowKernel(ctx, "rmsNorm", x, { weight, eps }),
      attention: (q, k, v, mask, bias, scale) => attention(ctx, q, k, v, mask, bias, scale, this.attentionKernel),
      activationGrad: (op, x, g) => activationGrad(ctx, op, x, g),
      logSoftmaxGrad: (y, g) => rowKernel(ctx, "logSoftmaxGrad", y, { g }),
      layerNormGrad: (x, weight, g, eps, withBias) => normGrad(ctx, "layerNorm", x, weight, g, eps, withBias),
      rmsNormGrad: (x, weight, g, eps) => normGrad(ctx, "rmsNorm", x, weight, g, eps, false),
      adamwStep: (param, grad, expAvg, expAvgSq, h) => adamwStep(ctx, param, grad, expAvg, expAvgSq, h),
      sampleTokens: (logits, seen, uniforms, p) => sampleTokens(ctx, logits, seen, uniforms, p),
    };
  }

  // ---- memory ----

  upload(data: HostArray, dtype: DType): BackendBuffer {
    const words = toWords(data, dtype);
    const out = this.alloc(GPU_BLOCK_DTYPES.includes(dtype) ? elementsOfHost(dtype, data.length) : data.length, dtype);
    if (words.length > 0) this.device.queue.writeBuffer(out.gpu, 0, words.buffer, words.byteOffset, words.byteLength);
    return out;
  }

  fill(size: number, value: number, dtype: DType): BackendBuffer {
    return fill(this.ctx, size, value, dtype);
  }

  async read(buffer: BackendBuffer): Promise<HostArray> {
    return (await this.readMany([buffer]))[0]!;
  }

  /** Several buffers through one staging buffer: one copy each, one submit, one mapAsync. */
  async readMany(buffers: readonly BackendBuffer[]): Promise<HostArray[]> {
    const bs = buffers.map((b) => this.gpuBuffer(b));
    const offsets: number[] = [];
    let bytes = 0;
    for (const b of bs) {
      offsets.push(bytes);
      bytes += wordsFor(b.dtype, b.size) * BYTES_PER_WORD;
    }
    if (bytes === 0) {
      this.throwIfFailed();
      return bs.map((b) => fromWords(new ArrayBuffer(0), b.dtype, 0));
    }
    const staging = this.staging.acquire(bytes);
    bs.forEach((b, i) => {
      if (b.size > 0) this.batcher.copy(b.gpu, staging, wordsFor(b.dtype, b.size) * BYTES_PER_WORD, offsets[i]);
    });
    this.batcher.flush();
    this.reads++;
    try {
      await staging.mapAsync(MapMode.READ, 0, staging.size);
      const mapped = staging.getMappedRange(0, staging.size);
      const host = bs.map((b, i) => fromWords(mapped, b.dtype, b.size, offsets[i]));
      staging.unmap();
      this.throwIfFailed();
      return host;
    } finally {
      if (staging.mapState === "mapped") staging.unmap();
      this.staging.release(staging);
    }
  }

  dispose(buffer: BackendBuffer): void {
    const b = this.gpuBuffer(buffer);
    b.disposed = true;
    this.live--;
    this.batcher.releaseAfterSubmit(this.storage, b.gpu);
  }

  // ---- primitives ----

  copy(x: StridedView): BackendBuffer {
    if (isBlocks(x.buffer.dtype))
      throw new WebGPUKernelError(
        `webgpu: a ${x.buffer.dtype} tensor is read by matmul, take and a cast to float32; it cannot be copied as a view`,
      );
    return copy(this.ctx, x);
  }

  writeInto(dst: StridedView, x: StridedView): void {
    writeInto(this.ctx, dst, x);
  }

  cast(x: StridedView, dtype: DType): BackendBuffer {
    if (isBlocks(x.buffer.dtype)) return dequantizeTo(this.ctx, x, dtype);
    return cast(this.ctx, x, dtype);
  }

  unary(op: UnaryOp, x: StridedView): BackendBuffer {
    return unary(this.ctx, op, x);
  }

  binary(op: BinaryOp, a: StridedView, b: StridedView): BackendBuffer {
    return binary(this.ctx, op, a, b);
  }

  where(cond: StridedView, a: StridedView, b: StridedView): BackendBuffer {
    return where(this.ctx, cond, a, b);
  }

  reduce(op: ReduceOp, x: StridedView, axes: readonly number[]): BackendBuffer {
    return reduce(this.ctx, op, x, axes);
  }

  argmax(x: StridedView, axis: number): BackendBuffer {
    return argmax(this.ctx, x, axis);
  }

  cumsum(x: StridedView, axis: number): BackendBuffer {
    return cumsum(this.ctx, x, axis);
  }

  matmul(a: StridedView, b: StridedView): BackendBuffer {
    return matmul(this.ctx, a, b);
  }

  /** matmul with a chosen kernel and tile shape (benchmarks and tests of each variant). */
  matmulWithTile(a: StridedView, b: StridedView, tile: TileConfig | Vec4TileConfig): BackendBuffer {
    return matmul(this.ctx, a, b, tile);
  }

  gather(x: StridedView, indices: StridedView, axis: number): BackendBuffer {
    if (isBlocks(x.buffer.dtype)) return gatherBlockRows(this.ctx, x, indices);
    return gather(this.ctx, x, indices, axis);
  }

  scatterAdd(updates: StridedView, indices: StridedView, axis: number, shape: readonly number[]): BackendBuffer {
    return scatterAdd(this.ctx, updates, indices, axis, shape);
  }

  concat(xs: readonly StridedView[], axis: number): BackendBuffer {
    return concat(this.ctx, xs, axis);
  }

  // ---- beyond the interface ----

  /** Submits recorded kernels now (reads do this themselves). */
  flush(): void {
    this.batcher.flush();
  }

  /** Resolves when all submitted work has finished on the GPU (benchmarks time with it). */
  async sync(): Promise<void> {
    this.batcher.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwIfFailed();
  }

  stats(): WebGPUBackendStats {
    return {
      liveBuffers: this.live,
      storage: this.storage.stats(),
      pipelines: this.pipelines.size,
      compileMs: this.pipelines.compileMs,
      submits: this.batcher.submits,
      reads: this.reads,
      allocatedBytes: this.allocatedBytes,
    };
  }

  /** Frees pooled buffers nobody uses (live tensors are untouched). */
  trim(): void {
    this.batcher.flush();
    this.storage.trim();
    this.staging.trim();
    this.uniforms.trim();
  }

  /** Releases the GPU; the backend is unusable afterwards. */
  destroy(): void {
    this.batcher.flush();
    this.trim();
    for (const t of this.tables.values()) t.destroy();
    this.tables.clear();
    if (this.ownsDevice) this.device.destroy();
  }

  /** The lookup table `name` (KernelContext.table), uploaded on first use. */
  private table(name: string, bytes: () => Uint8Array): GPUBuffer {
    let buffer = this.tables.get(name);
    if (buffer === undefined) {
      const data = bytes();
      const words = new Uint8Array(Math.ceil(data.length / 4) * 4);
      words.set(data);
      buffer = this.device.createBuffer({
        size: Math.max(4, words.length),
        usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
        label: `table ${name}`,
      });
      this.device.queue.writeBuffer(buffer, 0, words.buffer, 0, words.length);
      this.tables.set(name, buffer);
    }
    return buffer;
  }

  private alloc(size: number, dtype: DType): WebGPUBuffer {
    const bytes = wordsFor(dtype, size) * BYTES_PER_WORD;
    const max = Math.min(this.device.limits.maxStorageBufferBindingSize, this.device.limits.maxBufferSize);
    if (bytes > max) {
      throw new WebGPUKernelError(
        `webgpu: a ${dtype} tensor of ${size} elements needs ${bytes} bytes (${isHalfDType(dtype) ? 2 : isQuantized(dtype) ? "its blocks'" : 4} per element), more than this device's largest storage binding (${max} bytes)`,
      );
    }
    this.live++;
    this.allocatedBytes += bytes;
    return new WebGPUBuffer(size, dtype, this.storage.acquire(Math.max(bytes, BYTES_PER_WORD)), this);
  }

  /** float16 and bfloat16 weights (two to a word), and llama.cpp's blocks, multiplied as stored. */
  readonly storedMatmulDTypes: readonly DType[] = ["float16", "bfloat16", ...GPU_BLOCK_DTYPES];

  private gpuBuffer(buffer: BackendBuffer): WebGPUBuffer {
    if (!(buffer instanceof WebGPUBuffer) || buffer.owner !== this) {
      const what =
        buffer instanceof WebGPUBuffer ? "a buffer of another WebGPU backend" : `a ${buffer?.constructor?.name ?? typeof buffer}`;
      throw new WebGPUDeviceError(`webgpu: expected a buffer made by this backend, found ${what}`);
    }
    if (buffer.disposed) throw new WebGPUDeviceError(`webgpu: buffer of ${buffer.size} ${buffer.dtype} elements used after dispose()`);
    return buffer;
  }

  private throwIfFailed(): void {
    this.pipelines.throwIfFailed();
    if (this.deviceErrors.length > 0) throw new WebGPUDeviceError(`webgpu: the device reported an error: ${this.deviceErrors[0]}`);
    if (this.lost !== null) throw new WebGPUDeviceError(`webgpu: the device was lost: ${this.lost}`);
  }
}
