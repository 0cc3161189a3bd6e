import { allocHost, BYTES_PER_ELEMENT, type DType, type HostArray, hostLength } from "../../dtype.js";
import { Arena, PAGE, type WasmMemory } from "./arena.js";

/**
 * Where the CPU backend keeps tensors: blocks in one or more WebAssembly memories (arenas). A
 * wasm32 memory holds at most 4 GiB, so a larger model spreads its weights over several; each
 * kernel then works inside one memory (see ../resident/). Arrays handed out are typed views on a
 * memory's buffer; kernels find the memory and byte address of any view with `locate`.
 *
 * Blocks are freed when their buffer is disposed, or when the garbage collector finds the array
 * unreachable (a tensor never disposed), so forgetting dispose() costs memory for a while, as
 * with plain arrays, not for good.
 */

/** The largest wasm32 memory, in bytes (65536 pages of 64 KiB), less one page some engines keep. */
export const MAX_MEMORY_BYTES = 65535 * PAGE;
/**
 * A memory that cannot be shared is made at its full size (see arena.ts); this size keeps that
 * reservation modest, and a tensor larger than it gets a memory of its own size.
 */
const UNSHARED_BYTES = 256 * 2 ** 20;

/** Every heap's buffers, so that freeing an array finds its heap from the array alone. */
const heapOfBuffer = new WeakMap<ArrayBufferLike, WasmHeap>();
const heaps = new Map<string, WasmHeap | null>();
/** The most of a memory its reserve takes (see Arena.reserve). */
const RESERVE_FRACTION = 1 / 4;
/**
 * Freed float32 arrays of at most this many bytes are kept, with their blocks, for the next
 * allocIn of the same size in the same memory (see WasmHeap.spares); at most SPARES_PER_SIZE of a
 * size and SPARE_BYTES in all.
 */
const SPARE_MAX_BYTES = 64 * 1024;
const SPARES_PER_SIZE = 16;
const SPARE_BYTES = 1024 * 1024;
/** The heap new arrays come from: the backend whose kernel is running sets it (see useHeap). */
let active: WasmHeap | null = null;

/** Makes `heap` (or none: plain arrays) the one allocations come from. */
export function useHeap(heap: WasmHeap | null): void {
  active = heap;
}

export function activeHeap(): WasmHeap | null {
  return active;
}

/** Frees an array's block if some heap handed it out; false for any other array. */
export function freeHeapArray(array: HostArray): boolean {
  return heapOfBuffer.get(array.buffer)?.free(array) ?? false;
}

interface MemoryApi {
  Memory: new (descriptor: { initial: number; maximum?: number; shared?: boolean }) => WasmMemory;
}

interface Block {
  arena: Arena;
  offset: number;
  bytes: number;
  /** Freed and kept for reuse (see WasmHeap.spares): freeing it again is refused. */
  spare: boolean;
}

export interface HeapOptions {
  /** Bytes per memory at most (default: the wasm32 limit, 4 GiB). */
  maxMemoryBytes?: number;
  /** Use SharedArrayBuffer-backed memories (needed for threads); default: where available. */
  shared?: boolean;
}

export class WasmHeap {
  readonly arenas: Arena[] = [];
  readonly shared: boolean;
  readonly maxMemoryBytes: number;
  /** Told of each new arena (thread pools attach their workers to it); held weakly. */
  private readonly listeners = new Set<WeakRef<{ addArena(arena: Arena): void }>>();
  private readonly byBuffer = new WeakMap<ArrayBufferLike, Arena>();
  private readonly blocks = new WeakMap<HostArray, Block>();
  private readonly registry: FinalizationRegistry<Block> | null;
  /**
   * Freed small float32 arrays by memory and length, each still holding its block and its
   * finalizer registration: a decoding step frees and re-makes the same few sizes about 170 times
   * (residuals, norms, activations), and a new array's WeakMap entry and FinalizationRegistry
   * registration (with the unregistering when it is freed) were ~0.5 us of a ~3 us elementwise op.
   */
  private readonly spares: Map<number, Float32Array[]>[] = [];
  /** Bytes the spare arrays' blocks take (whole cache lines, as Arena.usedBytes counts them). */
  private spareBytes = 0;

  private constructor(
    private readonly api: MemoryApi,
    shared: boolean,
    maxMemoryBytes: number,
  ) {
    this.shared = shared;
    this.maxMemoryBytes = maxMemoryBytes;
    const Registry = (globalThis as { FinalizationRegistry?: typeof FinalizationRegistry }).FinalizationRegistry;
    this.registry = Registry ? new Registry<Block>((b) => b.arena.release(b.offset, b.bytes)) : null;
  }

  /**
   * The heap for these options, shared by every CPU backend that asks for the same (so a tensor
   * of one backend is resident for another); null where WebAssembly memories cannot be made (the
   * caller keeps plain arrays).
   */
  static for(options: HeapOptions = {}): WasmHeap | null {
    const key = `${options.maxMemoryBytes ?? MAX_MEMORY_BYTES}:${options.shared ?? true}`;
    if (!heaps.has(key)) heaps.set(key, WasmHeap.create(options));
    return heaps.get(key)!;
  }

  /** A heap of its own (see `for`). */
  static create(options: HeapOptions = {}): WasmHeap | null {
    const api = (globalThis as { WebAssembly?: MemoryApi }).WebAssembly;
    if (api === undefined) return null;
    const max = Math.min(options.maxMemoryBytes ?? MAX_MEMORY_BYTES, MAX_MEMORY_BYTES);
    if (!(max >= PAGE))
      throw new RangeError(`cpu backend: maxMemoryBytes must be at least ${PAGE} (one page), found ${options.maxMemoryBytes}`);
    const shared = (options.shared ?? true) && typeof SharedArrayBuffer !== "undefined" && canShare(api);
    try {
      new api.Memory({ initial: 1 });
    } catch {
      return null;
    }
    return new WasmHeap(api, shared, Math.floor(max / PAGE) * PAGE);
  }

  /**
   * An array of `size` elements in one of the memories (zero-filled when `zeroed`), preferring
   * `arena`; null when no memory can take it (larger than a memory, or the engine refused).
   */
  alloc(dtype: DType, size: number, zeroed: boolean, arena?: Arena): HostArray | null {
    const bytes = size * BYTES_PER_ELEMENT[dtype];
    if (bytes === 0) return allocHost(dtype, 0);
    if (dtype === "float32" && this.spareBytes > 0) {
      const spare = this.takeSpare(size, arena);
      if (spare !== undefined) return this.reuse(spare, zeroed);
    }
    const placed = (arena && this.tryIn(arena, bytes)) ?? this.place(bytes);
    if (placed === null) return null;
    const { block, zero } = placed;
    const array = view(dtype, block.arena.buffer, block.offset, size);
    if (zeroed && !zero) array.fill(0);
    this.blocks.set(array, block);
    this.registry?.register(array, block, array);
    return array;
  }

  /** An array in memory `arena` and no other (a kernel's output), or null. */
  allocIn(arena: Arena, dtype: DType, size: number, zeroed = false): HostArray | null {
    if (dtype === "float32" && this.spareBytes > 0) {
      const spare = this.takeSpare(size, arena);
      if (spare !== undefined) return this.reuse(spare, zeroed);
    }
    const bytes = size * BYTES_PER_ELEMENT[dtype];
    const placed = this.tryIn(arena, Math.max(bytes, 1));
    if (placed === null) return null;
    const array = view(dtype, arena.buffer, placed.block.offset, size);
    if (zeroed && !placed.zero) array.fill(0);
    this.blocks.set(array, placed.block);
    this.registry?.register(array, placed.block, array);
    return array;
  }

  /**
   * Scratch for the length of one kernel call, in memory `arena` (its reserve included: see
   * Arena.reserve), or null.
   * Unlike allocIn it is not tracked (no lookup entry, no finalizer: together ~1.6 us, a good
   * share of a small op), so it must go back through freeScratch before the call returns.
   */
  scratchIn(arena: Arena, dtype: DType, size: number): HostArray | null {
    const got = arena.alloc(Math.max(size * BYTES_PER_ELEMENT[dtype], 1), true);
    return got && view(dtype, arena.buffer, got.offset, size);
  }

  /** Gives back scratch from scratchIn (the same arena). */
  freeScratch(arena: Arena, array: HostArray): void {
    arena.release(array.byteOffset, Math.max(array.byteLength, 1));
  }

  /** Tells `listener` of every arena made from now on, while it is alive. */
  listen(listener: { addArena(arena: Arena): void }): void {
    this.listeners.add(new WeakRef(listener));
  }

  /** Frees the block behind an array this heap handed out; false for any other array. */
  free(array: HostArray): boolean {
    const block = this.blocks.get(array);
    if (block === undefined || block.spare) return false;
    if (array instanceof Float32Array && this.keepSpare(array, block)) return true;
    this.blocks.delete(array);
    this.registry?.unregister(array);
    block.arena.release(block.offset, block.bytes);
    return true;
  }

  /** Keeps a freed array for reuse (see spares) where there is room; false otherwise. */
  private keepSpare(array: Float32Array, block: Block): boolean {
    const size = Arena.blockSize(block.bytes);
    if (block.bytes > SPARE_MAX_BYTES || this.spareBytes + size > SPARE_BYTES) return false;
    const bySize = (this.spares[block.arena.index] ??= new Map());
    const list = bySize.get(array.length);
    if (list === undefined) bySize.set(array.length, [array]);
    else if (list.length < SPARES_PER_SIZE) list.push(array);
    else return false;
    this.spareBytes += size;
    block.spare = true;
    return true;
  }

  /** A spare array of `size` floats in memory `arena`, or in any memory when none is named. */
  private takeSpare(size: number, arena: Arena | undefined): Float32Array | undefined {
    if (arena !== undefined) return this.spares[arena.index]?.get(size)?.pop();
    for (const bySize of this.spares) {
      const spare = bySize?.get(size)?.pop();
      if (spare !== undefined) return spare;
    }
    return undefined;
  }

  /** A spare array handed out again, as allocIn would a new one. */
  private reuse(array: Float32Array, zeroed: boolean): Float32Array {
    const block = this.blocks.get(array)!;
    block.spare = false;
    this.spareBytes -= Arena.blockSize(block.bytes);
    if (zeroed) array.fill(0);
    return array;
  }

  /** Frees every spare array's block (a memory that has run out of room gets them back). */
  private dropSpares(arena: Arena): void {
    const bySize = this.spares[arena.index];
    if (bySize === undefined) return;
    for (const list of bySize.values()) {
      for (const array of list) {
        const block = this.blocks.get(array)!;
        this.blocks.delete(array);
        this.spareBytes -= Arena.blockSize(block.bytes);
        this.registry?.unregister(array);
        arena.release(block.offset, block.bytes);
      }
    }
    bySize.clear();
  }

  /** The memory an array's elements are in, or null for an array outside this heap. */
  locate(array: HostArray): Arena | null {
    return this.byBuffer.get(array.buffer) ?? null;
  }

  /** Bytes in blocks handed out and not yet freed, over every memory (spare arrays count as freed). */
  get usedBytes(): number {
    return this.arenas.reduce((n, a) => n + a.usedBytes, 0) - this.spareBytes;
  }

  private tryIn(arena: Arena, bytes: number): { block: Block; zero: boolean } | null {
    let got = arena.alloc(bytes);
    if (got === null && this.spareBytes > 0) {
      this.dropSpares(arena);
      got = arena.alloc(bytes);
    }
    return got && { block: { arena, offset: got.offset, bytes, spare: false }, zero: got.zero };
  }

  private place(bytes: number): { block: Block; zero: boolean } | null {
    for (const arena of this.arenas) {
      const got = this.tryIn(arena, bytes);
      if (got) return got;
    }
    const arena = this.grow(bytes);
    return arena && this.tryIn(arena, bytes);
  }

  /** A new memory able to take a block of `bytes`, or null. */
  private grow(bytes: number): Arena | null {
    // the first line (never handed out), the readable tail, and the reserve beyond the block
    const need = Math.ceil((Arena.blockSize(bytes) + 2 * PAGE) / (1 - RESERVE_FRACTION));
    if (need > this.maxMemoryBytes) return null;
    let memory: WasmMemory;
    let capacity: number;
    try {
      if (this.shared) {
        capacity = this.maxMemoryBytes;
        memory = new this.api.Memory({ initial: Math.ceil(need / PAGE), maximum: capacity / PAGE, shared: true });
      } else {
        capacity = Math.min(this.maxMemoryBytes, Math.max(UNSHARED_BYTES, Math.ceil(need / PAGE) * PAGE));
        memory = new this.api.Memory({ initial: capacity / PAGE });
      }
    } catch {
      return null;
    }
    const arena = new Arena(this.arenas.length, memory, capacity, this.shared, (buffer, a) => {
      this.byBuffer.set(buffer, a);
      heapOfBuffer.set(buffer, this);
    });
    this.arenas.push(arena);
    for (const ref of this.listeners) {
      const listener = ref.deref();
      if (listener) listener.addArena(arena);
      else this.listeners.delete(ref);
    }
    return arena;
  }
}

function view(dtype: DType, buffer: ArrayBufferLike, offset: number, size: number): HostArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(buffer, offset, size);
    case "int32":
      return new Int32Array(buffer, offset, size);
    case "bool":
      return new Uint8Array(buffer, offset, size);
    case "float16":
    case "bfloat16":
      return new Uint16Array(buffer, offset, size);
    default:
      return new Uint8Array(buffer, offset, hostLength(dtype, size)); // block-quantized: the blocks' bytes
  }
}

/** Whether shared memories can be made here (a browser page that is not cross-origin isolated cannot). */
function canShare(api: MemoryApi): boolean {
  try {
    const m = new api.Memory({ initial: 1, maximum: 1, shared: true });
    return typeof SharedArrayBuffer !== "undefined" && m.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}
