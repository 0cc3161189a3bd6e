/**
 * WebGPU's flag values, fixed by the spec. Spelled out here so the backend does not depend on the
 * `GPUBufferUsage` / `GPUMapMode` globals, which Dawn for Node does not install on globalThis.
 */
export const BufferUsage = {
  MAP_READ: 0x0001,
  MAP_WRITE: 0x0002,
  COPY_SRC: 0x0004,
  COPY_DST: 0x0008,
  UNIFORM: 0x0040,
  STORAGE: 0x0080,
} as const;

export const MapMode = { READ: 0x0001, WRITE: 0x0002 } as const;
