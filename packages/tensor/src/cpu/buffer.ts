import type { BackendBuffer, StridedView } from "../backend.js";
import { elementsOfHost, type DType, type HostArray } from "../dtype.js";
import { allocZeroed, recycle } from "./pool.js";

/** A CPU buffer: a typed array on the host. Half types hold raw 16-bit patterns, block types their bytes. */
export class CpuBuffer implements BackendBuffer {
  readonly size: number;
  private _data: HostArray | null;

  constructor(
    data: HostArray,
    readonly dtype: DType,
  ) {
    this._data = data;
    this.size = elementsOfHost(dtype, data.length); // block types: bytes -> elements
  }

  get disposed(): boolean {
    return this._data === null;
  }

  /** The backing array; throws once the buffer is disposed. */
  get data(): HostArray {
    if (this._data === null) {
      throw new Error(`cpu backend: buffer (${this.dtype}, ${this.size} elements) was used after dispose()`);
    }
    return this._data;
  }

  dispose(): void {
    // Dropping the reference lets the GC reclaim the memory even if the handle lives on; the pool
    // keeps the array for the next kernel when it handed it out.
    if (this._data !== null) recycle(this._data, this.dtype);
    this._data = null;
  }
}

export function newBuffer(dtype: DType, size: number): CpuBuffer {
  return new CpuBuffer(allocZeroed(dtype, size), dtype);
}

/** The host array behind a buffer, with a clear error for foreign or disposed buffers. */
export function bufferData(buffer: BackendBuffer): HostArray {
  if (!(buffer instanceof CpuBuffer)) {
    throw new Error(`cpu backend: expected a buffer created by the cpu backend, got ${describe(buffer)}`);
  }
  return buffer.data;
}

export function viewData(view: StridedView): HostArray {
  return bufferData(view.buffer);
}

function describe(buffer: unknown): string {
  const name = (buffer as { constructor?: { name?: string } } | null)?.constructor?.name;
  return name ? `a ${name}` : String(buffer);
}
