import { allocHost, type DType, type HostArray } from "../dtype.js";
import { activeHeap, freeHeapArray } from "./memory/heap.js";

// Why: a fresh large typed array costs a page fault per 4 KiB on first touch, which on our VMs is
// 5-20x the elementwise work written into it (8 MiB: ~3-9 ms vs 0.2 ms to refill a mapped one).
// A training step frees and re-allocates the same activation-sized buffers hundreds of times, so
// disposed arrays are kept here, by length and element type, and handed out again.
// Where the backend keeps its tensors in WebAssembly memory (memory/heap.ts), arrays come from
// there instead and go back there; this pool then only serves backends without that heap.

/** Below this many elements a fresh allocation is cheap; the pool is not worth its bookkeeping. */
const MIN_ELEMENTS = 1 << 12;
/** Bytes held idle at most: a GPT-2-small-shaped training step (benchmarks/train.mjs) cycles ~1 GiB. */
const MAX_POOLED_BYTES = 2 ** 30;

const free = new Map<string, HostArray[]>();
let pooledBytes = 0;
/** Arrays handed out by this pool and wrapped by exactly one live buffer: only these come back. */
const owned = new WeakSet<HostArray>();

function key(dtype: DType, size: number): string {
  // float16 and bfloat16 share Uint16Array storage, so they can share arrays too.
  return `${dtype === "bfloat16" ? "float16" : dtype}:${size}`;
}

function take(dtype: DType, size: number): HostArray | undefined {
  if (size < MIN_ELEMENTS) return undefined;
  const data = free.get(key(dtype, size))?.pop();
  if (data !== undefined) pooledBytes -= data.byteLength;
  return data;
}

function mark(data: HostArray): HostArray {
  if (data.length >= MIN_ELEMENTS) owned.add(data);
  return data;
}

/** A zero-filled array, like allocHost, reusing a disposed one where available. */
export function allocZeroed(dtype: DType, size: number): HostArray {
  const resident = activeHeap()?.alloc(dtype, size, true);
  if (resident) return resident;
  const reused = take(dtype, size);
  if (reused !== undefined) return mark(reused.fill(0));
  return mark(allocHost(dtype, size));
}

/** An array with arbitrary contents: only for kernels that write every element. */
export function allocUninit(dtype: DType, size: number): HostArray {
  const resident = activeHeap()?.alloc(dtype, size, false);
  if (resident) return resident;
  return mark(take(dtype, size) ?? allocHost(dtype, size));
}

/** Takes back a disposed buffer's array if this pool handed it out (never an alias or a view). */
export function recycle(data: HostArray, dtype: DType): void {
  if (freeHeapArray(data)) return;
  if (!owned.delete(data)) return;
  if (pooledBytes + data.byteLength > MAX_POOLED_BYTES) return;
  const k = key(dtype, data.length);
  let list = free.get(k);
  if (list === undefined) free.set(k, (list = []));
  list.push(data);
  pooledBytes += data.byteLength;
}

/** Drops every idle array, so the garbage collector can return the memory. */
export function releasePooledArrays(): void {
  free.clear();
  pooledBytes = 0;
}

/** Bytes held idle for reuse. */
export function pooledArrayBytes(): number {
  return pooledBytes;
}
