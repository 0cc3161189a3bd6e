import { Rng } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { argmax, createSampler, sampleFrom } from "../src/index.js";

const logits = Float32Array.from([Math.log(0.1), Math.log(0.6), Math.log(0.3)]);

describe("sampler", () => {
  it("is greedy without sampling options or at temperature 0", () => {
    expect(createSampler().greedy).toBe(true);
    expect(createSampler({ temperature: 0, topK: 2 }).greedy).toBe(true);
    expect(createSampler({ temperature: 0.7 }).greedy).toBe(false);
    expect(createSampler().next(logits, [])).toBe(1);
    expect(argmax([3, 5, 5, 1])).toBe(1);
  });

  it("draws tokens with the softmax frequencies", () => {
    const rng = new Rng(7);
    const counts = [0, 0, 0];
    const n = 20000;
    for (let i = 0; i < n; i++) counts[sampleFrom(logits, rng)]!++;
    expect(counts[0]! / n).toBeCloseTo(0.1, 1);
    expect(counts[1]! / n).toBeCloseTo(0.6, 1);
    expect(counts[2]! / n).toBeCloseTo(0.3, 1);
  });

  it("repeats exactly with the same seed and differs with another", () => {
    const draw = (seed: number) => {
      const s = createSampler({ temperature: 1, seed });
      return Array.from({ length: 64 }, () => s.next(logits, []));
    };
    expect(draw(1)).toEqual(draw(1));
    expect(draw(1)).not.toEqual(draw(2));
  });

  it("never draws a token a processor removed", () => {
    const s = createSampler({ temperature: 1, topK: 1, seed: 3 });
    for (let i = 0; i < 100; i++) expect(s.next(logits, [])).toBe(1);
  });

  it("names the problem when every token is removed", () => {
    expect(() => sampleFrom(Float32Array.from([-Infinity, -Infinity]), new Rng(0))).toThrow(/every logit is -Infinity/);
  });
});
