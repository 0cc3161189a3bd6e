import { describe, expect, it } from "vitest";
import { Arena, PAGE, type WasmMemory } from "../src/cpu/memory/arena.js";
import { WasmHeap } from "../src/cpu/memory/heap.js";

/** The WebAssembly JS API's Memory (the compile target's lib declares none). */
const { Memory } = (
  globalThis as unknown as { WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => WasmMemory } }
).WebAssembly;

function arena(capacityPages = 64): Arena {
  const memory = new Memory({ initial: 1, maximum: capacityPages, shared: true });
  return new Arena(0, memory, capacityPages * PAGE, true, () => {});
}

describe("WebAssembly memory arenas", () => {
  it("hands a freed block of the same size out again, and says when a block is fresh zeros", () => {
    const a = arena();
    const x = a.alloc(1000)!;
    expect(x.zero).toBe(true);
    a.alloc(64); // keeps x below the top
    a.release(x.offset, 1000);
    const y = a.alloc(1000)!;
    expect(y.offset).toBe(x.offset);
    expect(y.zero).toBe(false);
  });

  it("merges freed neighbours and lowers the top, so sizes that change every step reuse memory", () => {
    const a = arena();
    const keep = a.alloc(4096)!;
    // a decode step: a row that grows by one position each step, freed after the step
    let last = a.alloc(64)!;
    let lastBytes = 64;
    for (let step = 1; step < 2000; step++) {
      const bytes = 64 + 48 * step;
      const next = a.alloc(bytes)!;
      a.release(last.offset, lastBytes);
      [last, lastBytes] = [next, bytes];
    }
    // live: 4 KiB and one ~96 KB row; without reuse the top would have passed 96 MB
    expect(a.usedBytes).toBeLessThan(110_000);
    expect(a.memory.buffer.byteLength).toBeLessThan(64 * PAGE);
    a.release(last.offset, lastBytes);
    a.release(keep.offset, 4096);
    expect(a.usedBytes).toBe(0);
  });

  it("keeps its reserve for kernels' outputs and scratch", () => {
    const a = arena(8); // 512 KiB, a reserve of 128 KiB
    expect(a.reserve).toBe(128 * 1024);
    expect(a.alloc(400 * 1024)).toBeNull();
    expect(a.alloc(300 * 1024)).not.toBeNull();
    expect(a.alloc(100 * 1024)).toBeNull();
    expect(a.alloc(100 * 1024, true)).not.toBeNull();
  });
});

describe("the heap", () => {
  it("spreads tensors over several memories under a small cap, and finds each array's memory", () => {
    const heap = WasmHeap.create({ maxMemoryBytes: 8 * PAGE })!;
    const arrays = Array.from({ length: 10 }, () => heap.alloc("float32", 40_000, true) as Float32Array);
    expect(heap.arenas.length).toBeGreaterThanOrEqual(4);
    for (const x of arrays) {
      expect(heap.locate(x)).not.toBeNull();
      expect(x.every((v) => v === 0)).toBe(true);
    }
    expect(heap.locate(new Float32Array(4))).toBeNull();
    // a block larger than one memory can hold: no array (the backend keeps a plain one)
    expect(heap.alloc("float32", 1 << 20, false)).toBeNull();
    for (const x of arrays) expect(heap.free(x)).toBe(true);
    expect(heap.free(arrays[0]!)).toBe(false);
    expect(heap.usedBytes).toBe(0);
  });

  it("hands a freed small float32 array out again for the same size, as if new", () => {
    const heap = WasmHeap.create({ maxMemoryBytes: 8 * PAGE })!;
    const a = heap.alloc("float32", 768, false) as Float32Array;
    const arena = heap.locate(a)!;
    a.fill(7);
    expect(heap.free(a)).toBe(true);
    expect(heap.free(a)).toBe(false); // freed once only, kept or not
    expect(heap.usedBytes).toBe(0); // a kept array counts as freed
    const b = heap.allocIn(arena, "float32", 768, true) as Float32Array;
    expect(b).toBe(a);
    expect(b.every((v) => v === 0)).toBe(true); // zeroed when asked
    expect(heap.locate(b)).toBe(arena);
    expect(heap.usedBytes).toBeGreaterThanOrEqual(768 * 4);
    // another size, another dtype, or a larger block: a new array
    const c = heap.allocIn(arena, "float32", 769) as Float32Array;
    expect(c).not.toBe(a);
    expect(heap.free(b)).toBe(true);
    const d = heap.allocIn(arena, "int32", 768) as Int32Array;
    expect(d).toBeInstanceOf(Int32Array);
    const big = heap.allocIn(arena, "float32", 40_000)!;
    heap.free(big);
    expect(heap.allocIn(arena, "float32", 40_000)).not.toBe(big);
  });

  it("gives kept arrays' blocks back to a memory that runs out of room", () => {
    const heap = WasmHeap.create({ maxMemoryBytes: 8 * PAGE })!;
    const first = heap.alloc("float32", 16, false)!;
    const arena = heap.locate(first)!;
    heap.free(first);
    // fill the memory with small arrays, free them all (kept, up to the limits), then ask for one block as large as all of them
    const small: Float32Array[] = [];
    for (;;) {
      const x = heap.allocIn(arena, "float32", 4000) as Float32Array | null;
      if (x === null) break;
      small.push(x);
    }
    const bytes = small.length * 16_000;
    for (const x of small) heap.free(x);
    expect(heap.usedBytes).toBe(0);
    expect(heap.allocIn(arena, "float32", bytes / 4 - 64)).not.toBeNull();
  });
});
