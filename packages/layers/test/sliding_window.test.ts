import { describe, expect, it } from "vitest";
import { arange, concat, CpuBackend, noGrad, randn, Rng, tensor, type Backend, type Tensor } from "@llm/tensor";
import {
  Attention,
  buildAttentionMask,
  LayerKVCache,
  Linear,
  RotaryEmbedding,
  slidingWindowMask,
  TransformerKVCache,
  type AttentionContext,
} from "@llm/layers";
import { maxAbsDiff, values } from "./helpers.js";

// A query at position p sees key k when k <= p and p - k < window (transformers' sliding_window_overlay);
// a cache made for such a layer keeps only the last window - 1 positions between steps.

/** The CPU backend without in-place writes: the cache must concatenate. */
function noWriteBackend(): Backend {
  const backend = new CpuBackend();
  Object.defineProperty(backend, "writeInto", { value: undefined });
  return backend;
}

/** Brute force: allowed[q][k] for queries at the last `queries` of `keyEnd` positions, keys [keyStart, keyEnd). */
function allowed(queries: number, keyEnd: number, window: number, keyStart = 0): boolean[] {
  const out: boolean[] = [];
  for (let p = keyEnd - queries; p < keyEnd; p++) for (let k = keyStart; k < keyEnd; k++) out.push(k <= p && p - k < window);
  return out;
}

describe("slidingWindowMask", () => {
  it("bands the causal mask: each query sees itself and window - 1 before", () => {
    const mask = slidingWindowMask(buildAttentionMask(7, 7), 7, 7, 3)!;
    expect(mask.shape).toEqual([1, 1, 7, 7]);
    expect(values(mask).map(Boolean)).toEqual(allowed(7, 7, 3));
  });

  it("narrows to the keys a windowed cache still holds, and to the new queries", () => {
    // 2 new queries at 10, 11 over keys 0..11 of which the cache holds 7..11
    const mask = slidingWindowMask(buildAttentionMask(2, 12), 2, 12, 4, 7)!;
    expect(mask.shape).toEqual([1, 1, 2, 5]);
    expect(values(mask).map(Boolean)).toEqual(allowed(2, 12, 4, 7));
  });

  it("keeps a padding mask's holes", () => {
    const padding = tensor([[0, 0, 1, 1, 1, 1]], { dtype: "int32" });
    const mask = slidingWindowMask(buildAttentionMask(6, 6, padding), 6, 6, 2)!;
    expect(values(mask).map(Boolean)).toEqual(allowed(6, 6, 2).map((a, i) => a && i % 6 >= 2));
  });

  it("changes nothing when every held key is inside the window (and one query without a mask stays null)", () => {
    const causal = buildAttentionMask(4, 4);
    expect(slidingWindowMask(causal, 4, 4, 4)).toBe(causal);
    expect(slidingWindowMask(null, 1, 9, 5, 4)).toBeNull();
    // one query past the window without a mask gets the band alone
    expect(values(slidingWindowMask(null, 1, 9, 5)!).map(Boolean)).toEqual(allowed(1, 9, 5));
  });
});

describe("LayerKVCache with a window", () => {
  const rng = new Rng(9);
  const step = (positions: number, backend?: Backend): Tensor => randn([2, 3, positions, 4], { rng, ...(backend ? { backend } : {}) });

  for (const [name, backend] of [
    ["in place", undefined],
    ["by concatenation", noWriteBackend()],
  ] as const) {
    it(`returns the last window - 1 positions and this step's, and keeps no more (${name})`, () => {
      const window = 4;
      const cache = new LayerKVCache({ window });
      const all: Tensor[] = [];
      let seen = 0;
      for (const positions of [5, 1, 1, 2, 1, 7, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 3]) {
        const k = step(positions, backend);
        all.push(k);
        const out = cache.append(k, k);
        const expectedStart = Math.max(0, seen - (window - 1));
        seen += positions;
        expect(out.start).toBe(expectedStart);
        expect(cache.length).toBe(seen);
        expect(out.keys.shape).toEqual([2, 3, seen - expectedStart, 4]);
        expect(values(out.keys)).toEqual(values(concat(all, 2).slice(2, expectedStart)));
        // the buffers stop at twice the window (or one step's need)
        if (!backend) expect(cache.capacity).toBeLessThanOrEqual(Math.max(2 * window, window - 1 + positions));
      }
      cache.release();
      expect([cache.length, cache.capacity, cache.keys]).toEqual([0, 0, null]);
    });
  }

  it("concatenates while the keys take part in autograd, and still drops what the window no longer sees", () => {
    const cache = new LayerKVCache({ window: 2 });
    const a = step(3).requireGrad();
    cache.append(a, a);
    const b = step(1);
    const out = cache.append(b, b);
    expect(out.start).toBe(2);
    expect(values(out.keys)).toEqual(values(concat([a.slice(2, 2), b], 2)));
  });

  it("rejects a window that is not a positive integer, and a window list of the wrong length", () => {
    expect(() => new LayerKVCache({ window: 0 })).toThrow(/window must be a positive integer or null, found 0/);
    expect(() => new TransformerKVCache(3, { windows: [4, null] })).toThrow(/expected 3 windows \(one per layer\), found 2/);
  });
});

describe("Attention with a sliding window", () => {
  function attention(window: number | null, position = new RotaryEmbedding(4, { style: "half" })): Attention {
    const hidden = 8;
    const a = new Attention({
      heads: 4,
      kvHeads: 2,
      headDim: 4,
      projection: {
        kind: "separate",
        names: { q: "q", k: "k", v: "v" },
        q: new Linear(hidden, 16),
        k: new Linear(hidden, 8),
        v: new Linear(hidden, 8),
      },
      output: { name: "o", linear: new Linear(16, hidden) },
      position,
      slidingWindow: window,
    });
    a.initialize(new Rng(3), 0.5);
    return a;
  }
  const x = randn([2, 20, 8], { seed: 12 });
  const contextFor = (start: number, length: number): AttentionContext => ({
    positionIds: arange(start, start + length)
      .reshape(1, length)
      .expand(2, length),
    mask: buildAttentionMask(length, start + length),
  });

  it("equals full attention under the banded mask, and differs from attention without it", () => {
    const windowed = attention(3);
    const plain = attention(null);
    const banded = { ...contextFor(0, 20), mask: tensor(allowed(20, 20, 3), { shape: [1, 1, 20, 20], dtype: "bool" }) };
    noGrad(() => {
      expect(maxAbsDiff(windowed.forward(x, contextFor(0, 20)), plain.forward(x, banded))).toBeLessThan(1e-6);
      expect(maxAbsDiff(windowed.forward(x, contextFor(0, 20)), plain.forward(x, contextFor(0, 20)))).toBeGreaterThan(1e-2);
    });
  });

  it("through a cache that keeps only the window, past the window, equals the full forward", () => {
    const layer = attention(3);
    const full = noGrad(() => layer.forward(x, contextFor(0, 20)));
    const cache = new TransformerKVCache(1, { windows: [3] });
    let start = 0;
    const pieces = [4, 1, 1, 5, 1, 1, 1, 2, 1, 1, 1, 1].map((n) => {
      const out = noGrad(() => layer.forward(x.slice(1, start, start + n), contextFor(start, n), cache.layers[0]));
      start += n;
      expect(cache.layers[0]!.keys!.shape[2]).toBeLessThanOrEqual(2 + n);
      return out;
    });
    expect(cache.length).toBe(20);
    expect(maxAbsDiff(concat(pieces, 1), full)).toBeLessThan(1e-5);
  });

  it("refuses a cache whose window drops what this layer still sees", () => {
    const context = contextFor(0, 2);
    const small = new TransformerKVCache(1, { windows: [2] });
    expect(() => attention(null).forward(x.slice(1, 0, 2), context, small.layers[0])).toThrow(
      /a cache that keeps a window of 2 cannot serve full attention/,
    );
    expect(() => attention(3).forward(x.slice(1, 0, 2), context, small.layers[0])).toThrow(/cannot serve a window of 3/);
    // a cache that keeps more (or everything) serves a windowed layer
    const everything = new TransformerKVCache(1);
    expect(() => noGrad(() => attention(3).forward(x.slice(1, 0, 2), context, everything.layers[0]))).not.toThrow();
  });
});
