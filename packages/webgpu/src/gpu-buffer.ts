import type { BackendBuffer, DType } from "@llm/tensor";

/** A tensor's storage on the GPU: `size` elements of `dtype` (storage.ts: how each dtype takes words). */
export class WebGPUBuffer implements BackendBuffer {
  disposed = false;

  constructor(
    readonly size: number,
    readonly dtype: DType,
    /** At least wordsFor(dtype, size) words, and one; pooled, so usually larger than asked for. */
    readonly gpu: GPUBuffer,
    /** The backend that made it (buffers are not shared between devices). */
    readonly owner: object,
  ) {}
}
