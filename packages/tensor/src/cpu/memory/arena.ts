/**
 * One WebAssembly memory and the blocks carved out of it. Tensors live in these blocks, so the
 * WASM kernels (on every thread) read and write them where they are instead of copying them in.
 *
 * A shared memory (SharedArrayBuffer) grows in place: views made before a grow stay valid, so it
 * starts small and grows up to its capacity. A memory that cannot be shared would detach every
 * view on growing, so it is made at its full size once and never grows (untouched pages cost no
 * physical memory).
 */

/** Bytes per WebAssembly page. */
export const PAGE = 65536;
/** Every block starts on a cache line, which also aligns every SIMD vector. */
export const ALIGN = 64;
/**
 * Bytes kept readable past the last block: vector kernels may read up to one vector past the end
 * of an operand (the lanes they then ignore), which must stay inside the memory.
 */
const TAIL = 256;

/** The slice of the WebAssembly JS API used for memories (the compile target's lib declares none). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer | SharedArrayBuffer;
  grow(pages: number): number;
}

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

export class Arena {
  /** End of the highest block in use (bytes); blocks above are allocated by bumping it. */
  private top = ALIGN;
  /** Bytes below this have been handed out before, so a block there may hold old values. */
  private highWater = ALIGN;
  /**
   * Free blocks below the top, merged with free neighbours as they are freed: by start (their
   * size), by end (their start), and by size (their starts), so that a request takes a block of
   * its exact size when one is free (a training step frees and re-makes the same sizes), else the
   * smallest larger one, split. Sizes that change every step (a decode's growing attention rows)
   * so reuse freed space instead of raising the top. (Starts of one size in an array: most sizes
   * have one free block, and a decoding step lists and unlists ~400 blocks, so a Set per size
   * was a measurable share of a token.)
   */
  private readonly byStart = new Map<number, number>();
  private readonly byEnd = new Map<number, number>();
  private readonly bySize = new Map<number, number[]>();
  private freeBytes = 0;
  private current: ArrayBuffer | SharedArrayBuffer;

  constructor(
    /** Position in the heap; kernels and threads name memories by it. */
    readonly index: number,
    readonly memory: WasmMemory,
    /** Bytes this memory may hold at most. */
    readonly capacity: number,
    readonly shared: boolean,
    /** Told of each new buffer object after a grow (the heap maps buffers back to arenas). */
    private readonly onBuffer: (buffer: ArrayBuffer | SharedArrayBuffer, arena: Arena) => void,
  ) {
    this.current = memory.buffer;
    onBuffer(this.current, this);
  }

  /** The memory's current buffer (a new object after each grow of a shared memory). */
  get buffer(): ArrayBuffer | SharedArrayBuffer {
    return this.current;
  }

  /** Bytes in blocks handed out and not freed. */
  get usedBytes(): number {
    return this.top - ALIGN - this.freeBytes;
  }

  /**
   * The size a request of `bytes` takes: whole cache lines, with at least one vector to spare,
   * so a kernel may write its last elements as a whole vector.
   */
  static blockSize(bytes: number): number {
    return roundUp(bytes + 16, ALIGN);
  }

  /**
   * Bytes at the top of the memory that only kernels' outputs and scratch may take (`alloc` with
   * `reserved`): a memory filled with weights still has room for the kernels that read them, so
   * which kernel runs never depends on how full a memory is.
   */
  get reserve(): number {
    return Math.min(16 * 2 ** 20, Math.floor(this.capacity / 4));
  }

  /**
   * A block of `bytes` (rounded up to whole cache lines): its byte address and whether it is
   * known to be zero (memory never handed out before). Null when this memory has no room (not
   * counting the reserve, unless `reserved`).
   */
  alloc(bytes: number, reserved = false): { offset: number; zero: boolean } | null {
    const size = Arena.blockSize(bytes);
    const fit = this.takeFree(size);
    if (fit !== null) return { offset: fit, zero: false };
    return this.bump(size, this.capacity - (reserved ? 0 : this.reserve));
  }

  /** Gives a block back (its address and the size it was asked for). */
  release(offset: number, bytes: number): void {
    let start = offset;
    let size = Arena.blockSize(bytes);
    // merge with the free blocks right after and right before it
    const next = this.byStart.get(start + size);
    if (next !== undefined) {
      this.unlist(start + size, next);
      size += next;
    }
    const prev = this.byEnd.get(start);
    if (prev !== undefined) {
      const prevSize = start - prev;
      this.unlist(prev, prevSize);
      start = prev;
      size += prevSize;
    }
    if (start + size === this.top)
      this.top = start; // the topmost block: lower the top instead
    else this.list(start, size);
  }

  private list(start: number, size: number): void {
    this.byStart.set(start, size);
    this.byEnd.set(start + size, start);
    const starts = this.bySize.get(size);
    if (starts === undefined) this.bySize.set(size, [start]);
    else starts.push(start);
    this.freeBytes += size;
  }

  private unlist(start: number, size: number): void {
    this.byStart.delete(start);
    this.byEnd.delete(start + size);
    const starts = this.bySize.get(size)!;
    if (starts.length === 1) this.bySize.delete(size);
    else {
      const i = starts.indexOf(start);
      starts[i] = starts[starts.length - 1]!;
      starts.pop();
    }
    this.freeBytes -= size;
  }

  /** A free block of exactly `size`, else the smallest larger one split to size; null when none fits. */
  private takeFree(size: number): number | null {
    let best = this.bySize.has(size) ? size : -1;
    if (best < 0) for (const s of this.bySize.keys()) if (s > size && (best < 0 || s < best)) best = s;
    if (best < 0) return null;
    const starts = this.bySize.get(best)!;
    const start = starts[starts.length - 1]!;
    this.unlist(start, best);
    if (best > size) this.list(start + size, best - size);
    return start;
  }

  private bump(size: number, limit: number): { offset: number; zero: boolean } | null {
    const offset = this.top;
    const end = offset + size;
    if (end + TAIL > limit || !this.ensure(end + TAIL)) return null;
    this.top = end;
    const zero = offset >= this.highWater;
    if (end > this.highWater) this.highWater = end;
    return { offset, zero };
  }

  /** Grows the memory (shared memories only) until it holds `bytes`; false when it cannot. */
  private ensure(bytes: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (bytes <= have) return true;
    if (!this.shared) return false;
    // Grow by at least an eighth of what is there, so a model loading tensor by tensor grows a
    // few dozen times rather than once per tensor.
    const want = Math.min(this.capacity, Math.max(bytes, have + Math.ceil(have / 8)));
    try {
      this.memory.grow(Math.ceil((want - have) / PAGE));
    } catch {
      return false; // the engine refused (out of memory): the caller tries another arena
    }
    this.current = this.memory.buffer;
    this.onBuffer(this.current, this);
    return true;
  }
}
