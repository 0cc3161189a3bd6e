import { describe, expect, it } from "vitest";
import { TokenDataLoader } from "../src/index.js";

const stream = Array.from({ length: 1000 }, (_, i) => i);

describe("TokenDataLoader", () => {
  it("yields windows whose targets are the inputs shifted by one", () => {
    const loader = new TokenDataLoader(stream, { batchSize: 4, seqLen: 8, seed: 3 });
    const b = loader.next();
    expect(b.inputs.length).toBe(32);
    for (let r = 0; r < 4; r++) {
      const row = b.inputs.subarray(r * 8, r * 8 + 8);
      for (let j = 1; j < 8; j++) expect(row[j]).toBe(row[0]! + j);
      expect(b.targets[r * 8 + 7]).toBe(row[7]! + 1);
    }
  });

  it("visits each window of an epoch once, in an order fixed by the seed", () => {
    const starts = (seed: number) => {
      const loader = new TokenDataLoader(stream, { batchSize: 5, seqLen: 9, seed });
      return Array.from({ length: loader.batchesPerEpoch }, () => {
        const b = loader.next();
        return Array.from({ length: 5 }, (_, r) => b.inputs[r * 9]!);
      }).flat();
    };
    const a = starts(1);
    expect(new Set(a).size).toBe(a.length);
    expect(a.every((s) => (s - a[0]!) % 10 === 0)).toBe(true);
    expect(starts(1)).toEqual(a);
    expect(starts(2)).not.toEqual(a);
  });

  it("resumes from a saved state with the same batches, across epochs", () => {
    const a = new TokenDataLoader(stream, { batchSize: 8, seqLen: 10, seed: 5 });
    const all = Array.from({ length: 30 }, () => a.next().inputs);
    const b = new TokenDataLoader(stream, { batchSize: 8, seqLen: 10, seed: 5 });
    for (let i = 0; i < 17; i++) b.next();
    const state = JSON.parse(JSON.stringify(b.state()));
    const c = new TokenDataLoader(stream, { batchSize: 8, seqLen: 10, seed: 5 });
    c.restore(state);
    for (let i = 17; i < 30; i++) expect(c.next().inputs).toEqual(all[i]);
  });

  it("reads every window once in order for evaluation", () => {
    const loader = new TokenDataLoader(stream, { batchSize: 16, seqLen: 10, seed: 0 });
    const rows = [...loader.sequential()].flatMap((b) => Array.from({ length: b.batchSize }, (_, r) => b.inputs[r * 10]!));
    expect(rows).toEqual(Array.from({ length: 99 }, (_, i) => i * 10));
  });

  it("names a stream too short for one batch", () => {
    expect(() => new TokenDataLoader([1, 2, 3], { batchSize: 2, seqLen: 4 })).toThrow(/stream of 3 tokens is too short.*need at least 15/);
  });
});
