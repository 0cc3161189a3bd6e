/// <reference types="@webgpu/types" />
export { createWebGPUBackend, probeWebGPU, type CreateWebGPUBackendOptions } from "./create.js";
export { WebGPUBackend, type WebGPUBackendStats } from "./webgpu-backend.js";
export { WebGPUBuffer } from "./gpu-buffer.js";
export { WebGPUUnavailableError, WebGPUDeviceError, WebGPUKernelError } from "./errors.js";
export { TILE_LARGE, TILE_SMALL, type TileConfig } from "./kernels/matmul.js";
export { VEC4_LARGE, VEC4_SMALL, type Vec4TileConfig } from "./kernels/matmul-vec4.js";
export type { PoolStats } from "./buffer-pool.js";
export { TILED_MIN_SCORES, type AttentionKernel } from "./kernels/attention.js";
