/**
 * Reuses GPUBuffers by size class, so a decoding loop that frees what it allocates stops creating
 * buffers after its first step. Classes are 256 bytes and up, four per power of two, so a request
 * wastes at most 25% (plus rounding below 1 KiB).
 */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const k = Math.floor(Math.log2(bytes - 1));
  const step = 2 ** Math.max(k - 2, 6);
  return Math.ceil(bytes / step) * step;
}

export interface PoolStats {
  /** Buffers handed out and not yet released. */
  inUse: number;
  /** Buffers kept for reuse. */
  free: number;
  /** Bytes held by free buffers. */
  freeBytes: number;
  /** GPUBuffers created over the pool's life. */
  created: number;
}

export class BufferPool {
  private readonly freeLists = new Map<number, GPUBuffer[]>();
  private inUse = 0;
  private freeCount = 0;
  private freeBytes = 0;
  private created = 0;

  constructor(
    private readonly device: GPUDevice,
    private readonly usage: number,
    private readonly label: string,
    /** Free bytes above this are given back to the driver instead of kept. */
    private readonly maxFreeBytes = 512 * 1024 * 1024,
  ) {}

  acquire(bytes: number): GPUBuffer {
    const size = sizeClass(bytes);
    const list = this.freeLists.get(size);
    this.inUse++;
    const reused = list?.pop();
    if (reused) {
      this.freeCount--;
      this.freeBytes -= size;
      return reused;
    }
    this.created++;
    return this.device.createBuffer({ size, usage: this.usage, label: this.label });
  }

  release(buffer: GPUBuffer): void {
    this.inUse--;
    if (this.freeBytes + buffer.size > this.maxFreeBytes) {
      buffer.destroy();
      return;
    }
    let list = this.freeLists.get(buffer.size);
    if (!list) this.freeLists.set(buffer.size, (list = []));
    list.push(buffer);
    this.freeCount++;
    this.freeBytes += buffer.size;
  }

  /** Destroys every free buffer (buffers in use are untouched). */
  trim(): void {
    for (const list of this.freeLists.values()) for (const b of list) b.destroy();
    this.freeLists.clear();
    this.freeCount = 0;
    this.freeBytes = 0;
  }

  stats(): PoolStats {
    return { inUse: this.inUse, free: this.freeCount, freeBytes: this.freeBytes, created: this.created };
  }
}
