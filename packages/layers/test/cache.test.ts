import { describe, expect, it } from "vitest";
import { concat, cpuBackend, CpuBackend, randn, Rng, type Backend, type Tensor } from "@llm/tensor";
import { LayerKVCache, TransformerKVCache } from "@llm/layers";

// The KV cache writes each step into buffers that double when full, and gives back views of the
// filled part; it must hold exactly what concatenating every step would.

const rng = new Rng(5);
const step = (positions: number, backend: Backend = cpuBackend): Tensor => randn([2, 3, positions, 4], { rng, backend });

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

  it("with maxPositions, grows to them once the first buffers fill, and not again up to them", () => {
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
        // the views stay on one buffer from the first regrow to maxPositions: nothing copied again
        reserved ??= all.keys.storage;
        expect(all.keys.storage).toBe(reserved);
      }
      expect(Array.from(all.keys.dataSync())).toEqual(Array.from(concat(keys, 2).dataSync()));
    }
    // the first buffers fit the prompt (64 at least); past maxPositions (a model that extrapolates)
    // they double as before
    expect(cache.length).toBe(204);
    expect(capacities).toEqual([64, 64, 200, 200, 200, 400, 400]);
    cache.release();
    expect(cache.capacity).toBe(0);
    cache.append(step(70), step(70));
    expect(cache.capacity).toBe(70);
    cache.append(step(1), step(1));
    expect(cache.capacity).toBe(200);
    cache.release();
  });

  it("grows to at most 4 MiB a buffer at once, and doubles from there", () => {
    // 8 heads x 512 floats = 16 KiB a position: 256 positions fit in 4 MiB
    for (const maxPositions of [100_000, Infinity]) {
      const wide = new LayerKVCache({ maxPositions }); // Infinity: ALiBi models have no limit
      const k = randn([1, 8, 64, 512], { rng });
      const one = randn([1, 8, 1, 512], { rng });
      wide.append(k, k);
      expect(wide.capacity).toBe(64);
      wide.append(one, one);
      expect(wide.capacity).toBe(256);
      wide.release();
    }
    expect(() => new LayerKVCache({ maxPositions: 0 })).toThrow(
      "LayerKVCache: maxPositions must be a positive integer, Infinity or null, found 0",
    );
    expect(() => new LayerKVCache({ maxPositions: 1.5 })).toThrow(/found 1.5/);
    const layered = new TransformerKVCache(2, { maxPositions: 300 });
    expect(layered.layers.map((l) => l.maxPositions)).toEqual([300, 300]);
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
