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
   * Free blocks below the top, merged with free neighbours as they are freed: their starts and
   * sizes, in the order they were listed. A request takes the most recently listed block of its
   * exact size when one is free (a training step frees and re-makes the same sizes), else the
   * smallest larger one, split. Sizes that change every step (a decode's growing attention rows)
   * so reuse freed space instead of raising the top. A decoding step frees and takes ~400 blocks
   * while only a handful are free at a time (5 over GPT-2's), so a scan of these two arrays is the
   * cheap structure: Maps by start, end and size (as this was) made V8 re-table them as they
   * emptied and filled, a tenth of a decoding step's JavaScript.
   */
  private readonly freeStarts: number[] = [];
  private readonly freeSizes: number[] = [];
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
    const next = this.freeStarts.indexOf(start + size);
    if (next >= 0) size += this.unlist(next);
    for (let i = this.freeStarts.length - 1; i >= 0; i--) {
      if (this.freeStarts[i]! + this.freeSizes[i]! === start) {
        start = this.freeStarts[i]!;
        size += this.unlist(i);
        break;
      }
    }
    if (start + size === this.top)
      this.top = start; // the topmost block: lower the top instead
    else this.list(start, size);
  }

  private list(start: number, size: number): void {
    this.freeStarts.push(start);
    this.freeSizes.push(size);
    this.freeBytes += size;
  }

  /** Takes free block i off the list (the blocks after it move down one); its size. */
  private unlist(i: number): number {
    const { freeStarts: starts, freeSizes: sizes } = this;
    const size = sizes[i]!;
    // shifted by hand: splice would allocate the array of what it removed
    for (let j = i + 1; j < starts.length; j++) {
      starts[j - 1] = starts[j]!;
      sizes[j - 1] = sizes[j]!;
    }
    starts.pop();
    sizes.pop();
    this.freeBytes -= size;
    return size;
  }

  /** A free block of exactly `size` (the last listed), else the smallest larger one split to size; null when none fits. */
  private takeFree(size: number): number | null {
    let best = -1;
    for (let i = this.freeSizes.length - 1; i >= 0; i--) {
      const s = this.freeSizes[i]!;
      if (s === size) {
        best = i;
        break;
      }
      if (s > size && (best < 0 || s < this.freeSizes[best]!)) best = i;
    }
    if (best < 0) return null;
    const start = this.freeStarts[best]!;
    const taken = this.unlist(best);
    if (taken > size) this.list(start + size, taken - size);
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
