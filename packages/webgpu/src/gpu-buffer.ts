import type { BackendBuffer, DType } from "@llm/tensor";

/** A tensor's storage on the GPU: `size` elements of `dtype`, one 32-bit word each. */
export class WebGPUBuffer implements BackendBuffer {
  disposed = false;

  constructor(
    readonly size: number,
    readonly dtype: DType,
    /** At least max(size, 1) words; pooled, so usually larger than asked for. */
    readonly gpu: GPUBuffer,
    /** The backend that made it (buffers are not shared between devices). */
    readonly owner: object,
  ) {}
}
