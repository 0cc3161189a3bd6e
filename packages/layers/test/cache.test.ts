import { describe, expect, it } from "vitest";
import { concat, cpuBackend, CpuBackend, randn, Rng, type Backend, type Tensor } from "@llm/tensor";
import { KVBufferSpares, LayerKVCache, TransformerKVCache } from "@llm/layers";

// The KV cache writes each step into buffers that double when full, and gives back views of the
// filled part; it must hold exactly what concatenating every step would.

const rng = new Rng(5);
const step = (positions: number, backend: Backend = cpuBackend): Tensor => randn([2, 3, positions, 4], { rng, backend });

/** A two-layer cache with `spares`, five positions appended to each layer, and its buffers' storages. */
function filledCache(backend: Backend, spares: KVBufferSpares): { cache: TransformerKVCache; storages: Tensor["storage"][] } {
  const cache = new TransformerKVCache(2, { maxPositions: 50, spares });
  const k = step(5, backend);
  for (const layer of cache.layers) layer.append(k, k);
  return { cache, storages: cache.layers.flatMap((l) => [l.keys!.storage, l.values!.storage]) };
}

/** The CPU backend without in-place writes (an own property hides the method): the cache must concatenate. */
function noWriteBackend(): Backend {
  const backend = new CpuBackend();
  Object.defineProperty(backend, "writeInto", { value: undefined });
  return backend;
}

describe("LayerKVCache", () => {
  it("grows by doubling and holds what concatenation would, through many small steps", () => {
    const cache = new LayerKVCache();
    const keys: Tensor[] = [];
    const values: Tensor[] = [];
    const capacities: number[] = [];
    for (const positions of [5, 1, 1, 60, 1, 1, 100, 3]) {
      const k = step(positions);
      const v = step(positions);
      keys.push(k);
      values.push(v);
      const all = cache.append(k, v);
      capacities.push(cache.capacity);
      expect(all.keys.shape).toEqual([2, 3, cache.length, 4]);
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat(keys, 2).dataSync()));
      expect(Array.from(all.values.dataSync())).toEqual(Array.from(concat(values, 2).dataSync()));
    }
    expect(cache.length).toBe(172);
    // 64 positions to start; doubled when 67 arrived, again when 171 did
    expect(capacities).toEqual([64, 64, 64, 128, 128, 128, 256, 256]);
    cache.release();
    expect(cache.length).toBe(0);
    expect(cache.capacity).toBe(0);
  });

  it("fills its buffers exactly and keeps going (a view of the whole buffer is not the buffer)", () => {
    const cache = new LayerKVCache();
    const keys: Tensor[] = [];
    for (const positions of [64, 1, 63, 1, 128]) {
      const k = step(positions);
      keys.push(k);
      const all = cache.append(k, k);
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat(keys, 2).dataSync()));
    }
    expect([cache.length, cache.capacity]).toEqual([257, 512]);
    cache.release();
  });

  it("concatenates where the backend cannot write in place, or the keys take part in autograd", () => {
    const backend = noWriteBackend();
    const cache = new LayerKVCache();
    const a = step(3, backend);
    const b = step(2, backend);
    cache.append(a, a);
    const all = cache.append(b, b);
    expect(cache.capacity).toBe(0);
    expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat([a, b], 2).dataSync()));

    const graded = new LayerKVCache();
    const k = step(3).requireGrad();
    graded.append(k, k);
    expect(graded.capacity).toBe(0);
    expect(graded.keys!.requiresGrad).toBe(true);
  });

  it("moves what it concatenated into buffers once in-place writes can take over", () => {
    const cache = new LayerKVCache();
    const first = step(4).requireGrad();
    cache.append(first, first);
    const second = step(2);
    const all = cache.append(second, second);
    // the first keys still require grad, so the cache keeps concatenating rather than copy them out of the graph
    expect(cache.capacity).toBe(0);
    expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat([first, second], 2).dataSync()));
  });

  for (const [name, backend] of [
    ["in buffers", cpuBackend],
    ["concatenating", noWriteBackend()],
  ] as const) {
    it(`truncate keeps the first positions, and appends after it hold what a fresh cache would (${name})`, () => {
      const cache = new LayerKVCache();
      const [a, b, c] = [step(5, backend), step(3, backend), step(2, backend)];
      cache.append(a, a);
      cache.append(b, b);
      cache.truncate(6);
      expect(cache.length).toBe(6);
      const all = cache.append(c, c);
      const expected = concat([a, b.slice(2, 0, 1), c], 2);
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(expected.dataSync()));
      expect(Array.from(all.values.dataSync())).toEqual(Array.from(expected.dataSync()));
      cache.truncate(0);
      expect(cache.length).toBe(0);
      const again = cache.append(c, c);
      expect(Array.from(again.keys.dataSync())).toEqual(Array.from(c.dataSync()));
      cache.release();
    });
  }

  it("with maxPositions, makes its first buffers with room for them, and doubles past them", () => {
    const cache = new LayerKVCache({ maxPositions: 200 });
    const keys: Tensor[] = [];
    const capacities: number[] = [];
    let reserved: unknown = null;
    for (const positions of [5, 1, 60, 100, 34, 1, 3]) {
      const k = step(positions);
      keys.push(k);
      const all = cache.append(k, k);
      capacities.push(cache.capacity);
      if (cache.capacity === 200) {
        // the views stay on one buffer from the first append to maxPositions: nothing copied
        reserved ??= all.keys.storage;
        expect(all.keys.storage).toBe(reserved);
      }
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat(keys, 2).dataSync()));
    }
    // past maxPositions (a model that extrapolates) they double as before
    expect(cache.length).toBe(204);
    expect(capacities).toEqual([200, 200, 200, 200, 200, 400, 400]);
    cache.release();
    expect(cache.capacity).toBe(0);
    cache.append(step(70), step(70));
    expect(cache.capacity).toBe(200);
    cache.release();
    // a prompt longer than maxPositions takes the doubling path from its own length
    cache.append(step(230), step(230));
    expect(cache.capacity).toBe(230);
    cache.release();
  });

  it("reserves at most 4 MiB a buffer, and doubles from there", () => {
    // 8 heads x 512 floats = 16 KiB a position: 256 positions fit in 4 MiB
    for (const maxPositions of [100_000, Infinity]) {
      const wide = new LayerKVCache({ maxPositions }); // Infinity: ALiBi models have no limit
      const one = randn([1, 8, 1, 512], { rng });
      // a prompt of 64 gets the 256 reserved; one larger than what 4 MiB holds starts at its own length and doubles
      for (const [prompt, first, next] of [
        [64, 256, 256],
        [300, 300, 600],
      ] as const) {
        const k = randn([1, 8, prompt, 512], { rng });
        wide.append(k, k);
        expect(wide.capacity).toBe(first);
        wide.append(one, one);
        expect(wide.capacity).toBe(next);
        wide.release();
      }
    }
    expect(() => new LayerKVCache({ maxPositions: 0 })).toThrow(
      "LayerKVCache: maxPositions must be a positive integer, Infinity or null, found 0",
    );
    expect(() => new LayerKVCache({ maxPositions: 1.5 })).toThrow(/found 1.5/);
    const layered = new TransformerKVCache(2, { maxPositions: 300 });
    expect(layered.layers.map((l) => l.maxPositions)).toEqual([300, 300]);
  });

  it("makes every layer's buffers at the first layer's first append; a layer unlike the first makes its own", () => {
    const cache = new TransformerKVCache(4, { maxPositions: 100, windows: [null, null, 8, null] });
    const k = step(5);
    cache.layers[0]!.append(k, k);
    // every layer has its room before any other layer appended (the window layer: twice its window)
    expect(cache.layers.map((l) => [l.capacity, l.length])).toEqual([
      [100, 5],
      [100, 0],
      [16, 0],
      [100, 0],
    ]);
    expect(cache.layers[1]!.keys).toBe(null);
    // later layers write into what was reserved for them
    const reservedKeys = (cache.layers[1] as unknown as { keyBuffer: Tensor }).keyBuffer.storage;
    const k1 = step(5);
    const got = cache.layers[1]!.append(k1, k1);
    expect(got.keys.storage).toBe(reservedKeys);
    expect(Array.from(got.keys.dataSync())).toEqual(Array.from(k1.dataSync()));
    // a layer with other heads (or head size, dtype, batch) drops the reserved buffers for its own
    const other = randn([2, 1, 5, 6], { rng });
    const own = cache.layers[3]!.append(other, other);
    expect(own.keys.shape).toEqual([2, 1, 5, 6]);
    expect(Array.from(own.keys.dataSync())).toEqual(Array.from(other.dataSync()));
    expect(cache.layers[3]!.capacity).toBe(100);
    cache.dispose();
    expect(cache.layers.map((l) => l.capacity)).toEqual([0, 0, 0, 0]);
    // reserving again after a dispose
    cache.layers[2]!.append(k, k);
    expect(cache.layers.map((l) => l.capacity)).toEqual([100, 100, 16, 100]);
    cache.dispose();
  });

  it("a disposed cache's buffers go to the next cache made with the same spares", () => {
    const backend = new CpuBackend({ wasm: true }); // its freed memory stays with the process
    expect(backend.keepsFreedMemory).toBe(true);
    const spares = new KVBufferSpares();
    const { cache: first, storages } = filledCache(backend, spares);
    first.dispose();
    expect(first.layers.map((l) => [l.capacity, l.length])).toEqual([
      [0, 0],
      [0, 0],
    ]);
    const second = new TransformerKVCache(2, { maxPositions: 50, spares });
    const k2 = step(3, backend);
    const got = second.layers.map((layer) => layer.append(k2, k2));
    const taken = got.flatMap((g) => [g.keys.storage, g.values.storage]);
    expect(new Set(taken).size).toBe(4);
    for (const storage of taken) expect(storages).toContain(storage);
    expect(Array.from(got[1]!.keys.dataSync())).toEqual(Array.from(k2.dataSync()));
    // a cache of other shapes makes its own and leaves the held ones to a later cache
    const third = new TransformerKVCache(2, { maxPositions: 50, spares });
    const wide = randn([1, 6, 2, 4], { rng, backend });
    const own = third.layers[0]!.append(wide, wide);
    expect(storages).not.toContain(own.keys.storage);
    third.dispose();
    second.dispose();
    spares.dispose();
  });

  it("frees a disposed cache's buffers where freed memory goes back (Backend.keepsFreedMemory)", () => {
    const backend = new CpuBackend({ wasm: false }); // plain arrays: the garbage collector takes them
    expect(backend.keepsFreedMemory).toBe(false);
    const spares = new KVBufferSpares();
    const { cache, storages } = filledCache(backend, spares);
    cache.dispose();
    for (const storage of storages) expect(storage.refs).toBe(0);
    const next = new TransformerKVCache(2, { maxPositions: 50, spares });
    const k = step(5, backend);
    expect(storages).not.toContain(next.layers[0]!.append(k, k).keys.storage);
    next.dispose();
  });

  it("reserve() makes every layer's buffers before the first step, from the shapes given", () => {
    const cache = new TransformerKVCache(3, { maxPositions: 40 });
    const like = { shape: [2, 3, 5, 4], dtype: "float32", backend: cpuBackend } as const;
    cache.reserve([like, like, { ...like, shape: [2, 3, 50, 4] }]);
    // the third layer's step would not fit its room: it takes the doubling path at its append
    expect(cache.layers.map((l) => [l.capacity, l.length])).toEqual([
      [40, 0],
      [40, 0],
      [0, 0],
    ]);
    const k = step(5);
    const keys = cache.layers.map((layer) => layer.append(k, k).keys);
    for (const got of keys) expect(Array.from(got.dataSync())).toEqual(Array.from(k.dataSync()));
    expect(cache.layers.map((l) => l.capacity)).toEqual([40, 40, 40]);
    // a cache that holds positions reserves nothing more
    cache.reserve([like, like, like]);
    expect(cache.length).toBe(5);
    expect(() => cache.reserve([like])).toThrow("TransformerKVCache.reserve: expected 3 shapes (one per layer), found 1");
    cache.dispose();
  });

  it("reserves nothing without maxPositions", () => {
    const cache = new TransformerKVCache(2);
    const k = step(5);
    cache.layers[0]!.append(k, k);
    expect(cache.layers.map((l) => l.capacity)).toEqual([64, 0]);
    cache.dispose();
  });

  it("truncate names a length outside what the cache holds", () => {
    const cache = new TransformerKVCache(2);
    const k = step(3);
    for (const layer of cache.layers) layer.append(k, k);
    expect(() => cache.truncate(4)).toThrow("KV cache truncate: expected a length in [0, 3] (the positions seen), found 4");
    expect(() => cache.truncate(-1)).toThrow(/found -1/);
    expect(cache.truncate(1)).toBe(1);
    expect(cache.layers.map((l) => l.length)).toEqual([1, 1]);
    cache.dispose();
  });

  it("with a sliding window, truncate keeps what the window still holds, and starts over where it dropped too much", () => {
    // a window of 4: each step sees itself and the 3 before, so after 10 positions it holds 6..9
    const cache = new TransformerKVCache(2, { windows: [4, null] });
    const steps = Array.from({ length: 10 }, () => step(1));
    for (const s of steps) for (const layer of cache.layers) layer.append(s, s);
    const windowed = cache.layers[0]!;
    expect([windowed.start, windowed.length]).toEqual([6, 10]);
    expect(cache.truncate(8)).toBe(8); // positions 6 and 7 are still held by the windowed layer
    expect([windowed.start, windowed.length, cache.layers[1]!.length]).toEqual([6, 8, 8]);
    const next = step(1);
    const after = windowed.append(next, next);
    expect(Array.from(after.keys.dataSync())).toEqual(Array.from(concat([steps[6]!, steps[7]!, next], 2).dataSync()));
    cache.layers[1]!.append(next, next);
    // position 5 fell out of the window: every layer starts over, so no layer holds a partial past
    expect(cache.truncate(5)).toBe(0);
    expect(cache.layers.map((l) => l.length)).toEqual([0, 0]);
    expect(() => windowed.truncate(0)).not.toThrow();
  });
});

describe("LayerKVCache with dtype float16 / bfloat16", () => {
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype}: holds each step rounded as cast rounds it, through doubling, a window and a truncate`, () => {
      for (const window of [null, 7]) {
        const cache = new LayerKVCache({ dtype, window });
        const keys: Tensor[] = [];
        const values: Tensor[] = [];
        for (const positions of [5, 1, 1, 60, 1, 70]) {
          const [k, v] = [step(positions), step(positions)];
          keys.push(k);
          values.push(v);
          const all = cache.append(k, v);
          expect(all.keys.dtype).toBe(dtype);
          expect(all.values.dtype).toBe(dtype);
          const held = all.keys.shape[2]!;
          const expectedKeys = concat(keys, 2).cast(dtype);
          const expectedValues = concat(values, 2).cast(dtype);
          const total = expectedKeys.shape[2]!;
          expect(Array.from(all.keys.dataSync())).toEqual(
            Array.from(
              expectedKeys
                .narrow(2, total - held, held)
                .contiguous()
                .dataSync(),
            ),
          );
          expect(Array.from(all.values.dataSync())).toEqual(
            Array.from(
              expectedValues
                .narrow(2, total - held, held)
                .contiguous()
                .dataSync(),
            ),
          );
        }
        if (window === null) {
          cache.truncate(6);
          expect(Array.from(cache.keys!.dataSync())).toEqual(Array.from(concat(keys.slice(0, 2), 2).cast(dtype).dataSync()));
          const next = step(2);
          cache.append(next, next);
          expect(Array.from(cache.keys!.dataSync())).toEqual(
            Array.from(
              concat([...keys.slice(0, 2), next], 2)
                .cast(dtype)
                .dataSync(),
            ),
          );
        }
        cache.release();
      }
    });
  }

  it("concatenating (no in-place writes) keeps the dtype too; steps in a graph stay float32, the held positions widened beside them", () => {
    const backend = noWriteBackend();
    const cache = new LayerKVCache({ dtype: "float16" });
    const [a, b] = [step(3, backend), step(2, backend)];
    expect(cache.append(a, a).keys.dtype).toBe("float16");
    expect(cache.append(b, b).keys.dtype).toBe("float16");
    expect(Array.from(cache.keys!.dataSync())).toEqual(Array.from(concat([a, b], 2).cast("float16").dataSync()));
    const graph = step(1, backend).requireGrad();
    const all = cache.append(graph, graph);
    expect(all.keys.dtype).toBe("float32");
    expect(all.keys.requiresGrad).toBe(true);
    expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat([concat([a, b], 2).cast("float16").float(), graph], 2).dataSync()));
  });

  it("takes half the bytes: room for twice the positions in the same 4 MiB, and spares made for float32 are not reused", () => {
    const spares = new KVBufferSpares();
    const big = (dtype: "float32" | "float16") => {
      const cache = new TransformerKVCache(1, { maxPositions: 100_000, spares, dtype });
      const k = randn([1, 8, 1, 64]);
      cache.layers[0]!.append(k, k);
      return cache;
    };
    const f32 = big("float32");
    const f16 = big("float16");
    // 4 MiB over 8 heads x 64 x bytes
    expect(f32.layers[0]!.capacity).toBe(2048);
    expect(f16.layers[0]!.capacity).toBe(4096);
    f32.dispose();
    const again = big("float16");
    expect(again.layers[0]!.keys!.dtype).toBe("float16");
    f16.dispose();
    again.dispose();
    spares.dispose();
  });

  it("names a dtype it cannot keep", () => {
    expect(() => new LayerKVCache({ dtype: "int32" as never })).toThrow(/dtype must be one of float32, float16, bfloat16, found int32/);
  });
});
