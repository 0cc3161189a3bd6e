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
  /** Freed blocks by exact size: a training step frees and re-makes the same sizes many times. */
  private readonly free = new Map<number, number[]>();
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
    const limit = this.capacity - (reserved ? 0 : this.reserve);
    const reused = this.free.get(size)?.pop();
    if (reused !== undefined) {
      this.freeBytes -= size;
      return { offset: reused, zero: false };
    }
    const bumped = this.bump(size, limit);
    if (bumped !== null) return bumped;
    // Out of room at the top: merge the free blocks and look for one large enough.
    this.compact();
    const fit = this.bestFit(size);
    if (fit !== null) return { offset: fit, zero: false };
    return this.bump(size, limit);
  }

  /** Gives a block back (its address and the size it was asked for). */
  release(offset: number, bytes: number): void {
    this.releaseBlock(offset, Arena.blockSize(bytes));
  }

  /** Gives back `size` bytes (a whole block's size) at `offset`. */
  private releaseBlock(offset: number, size: number): void {
    if (offset + size === this.top) {
      this.top = offset; // the topmost block: lower the top instead of listing it
      return;
    }
    let list = this.free.get(size);
    if (list === undefined) this.free.set(size, (list = []));
    list.push(offset);
    this.freeBytes += size;
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

  /** Merges adjacent free blocks; blocks that reach the top lower it. */
  private compact(): void {
    if (this.freeBytes === 0) return;
    const blocks: [number, number][] = [];
    for (const [size, offsets] of this.free) for (const o of offsets) blocks.push([o, size]);
    blocks.sort((x, y) => x[0] - y[0]);
    this.free.clear();
    this.freeBytes = 0;
    const merged: [number, number][] = [];
    for (const [o, size] of blocks) {
      const last = merged[merged.length - 1];
      if (last !== undefined && last[0] + last[1] === o) last[1] += size;
      else merged.push([o, size]);
    }
    const last = merged[merged.length - 1];
    if (last !== undefined && last[0] + last[1] === this.top) {
      this.top = last[0];
      merged.pop();
    }
    for (const [o, size] of merged) this.releaseBlock(o, size);
  }

  /** The smallest free block of at least `size` bytes, split to size (the rest stays free). */
  private bestFit(size: number): number | null {
    let best: number | null = null;
    for (const s of this.free.keys()) if (s >= size && (best === null || s < best) && this.free.get(s)!.length > 0) best = s;
    if (best === null) return null;
    const offset = this.free.get(best)!.pop()!;
    this.freeBytes -= best;
    if (best > size) this.releaseBlock(offset + size, best - size);
    return offset;
  }
}
