import type { DType, StridedView } from "@llm/tensor";
import type { CommandBatcher } from "./command-batcher.js";
import type { WebGPUBuffer } from "./gpu-buffer.js";

/** What kernels need from the backend: fresh outputs, the GPU buffer behind a view, a queue. */
export interface KernelContext {
  readonly batcher: CommandBatcher;
  /** A new uninitialised buffer of `size` elements. */
  alloc(size: number, dtype: DType): WebGPUBuffer;
  /** The live WebGPUBuffer behind a view (throws for disposed or foreign buffers). */
  buffer(view: StridedView): WebGPUBuffer;
  /**
   * A read-only storage buffer holding `bytes` (padded to whole words), made once per backend and
   * kept under `name` until it is destroyed: a lookup table kernels bind (the lattice types' grids).
   */
  table(name: string, bytes: () => Uint8Array): GPUBuffer;
  /** Frees an intermediate the kernel made itself. */
  free(buffer: WebGPUBuffer): void;
  readonly features: KernelFeatures;
  readonly limits: { maxWorkgroupSize: number; maxWorkgroupStorage: number };
}

export interface KernelFeatures {
  /** WGSL `subgroups` (subgroupAdd/Max) may be used. */
  subgroups: boolean;
  /** WGSL `f16` may be used. */
  shaderF16: boolean;
}
