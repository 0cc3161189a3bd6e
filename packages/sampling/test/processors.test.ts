import { describe, expect, it } from "vitest";
import { chain, minP, repetitionPenalty, softmaxRow, temperature, topK, topP, suppressTokens } from "../src/index.js";

const row = () => Float32Array.from([1, 3, 2, -1, 3]);
const kept = (r: Float32Array) => [...r.keys()].filter((i) => r[i] !== -Infinity);

describe("logits processors", () => {
  it("temperature divides every logit", () => {
    expect([...temperature(2)(row(), [])]).toEqual([0.5, 1.5, 1, -0.5, 1.5]);
    expect(() => temperature(0)).toThrow(/temperature: t must be a finite number > 0.*got 0/);
  });

  it("topK keeps the k largest, ties at the k-th value included", () => {
    expect(kept(topK(1)(row(), []))).toEqual([1, 4]);
    expect(kept(topK(3)(row(), []))).toEqual([1, 2, 4]);
    expect(kept(topK(10)(row(), []))).toEqual([0, 1, 2, 3, 4]);
    expect(() => topK(0)).toThrow(/topK: k must be an integer >= 1, got 0/);
  });

  it("topP keeps the smallest most likely set reaching p", () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    expect(kept(topP(0.5)(logits, []))).toEqual([0]);
    expect(kept(topP(0.7)(logits, []))).toEqual([0, 1]);
    expect(kept(topP(0.81)(logits, []))).toEqual([0, 1, 2]);
    expect(kept(topP(0.01)(logits, []))).toEqual([0]);
    expect(() => topP(1.5)).toThrow(/topP: p must be in \(0, 1\], got 1.5/);
  });

  it("minP keeps tokens at least p times as likely as the best", () => {
    const logits = Float32Array.from([Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)]);
    expect(kept(minP(0.25)(logits, []))).toEqual([0, 1, 2]);
    expect(kept(minP(0.5)(logits, []))).toEqual([0, 1]);
    expect(kept(minP(0)(logits, []))).toEqual([0, 1, 2, 3]);
  });

  it("repetitionPenalty divides positive and multiplies negative logits of seen tokens once", () => {
    const out = repetitionPenalty(2)(row(), [1, 3, 1]);
    expect([...out]).toEqual([1, 1.5, 2, -2, 3]);
  });

  it("chain runs processors in order", () => {
    const out = chain(suppressTokens([4]), topK(1), temperature(0.5))(row(), []);
    expect([...out]).toEqual([-Infinity, 6, -Infinity, -Infinity, -Infinity]);
  });

  it("softmaxRow gives probabilities and 0 for -Infinity", () => {
    const p = softmaxRow(Float32Array.from([0, Math.log(3), -Infinity]));
    expect(p[0]).toBeCloseTo(0.25, 6);
    expect(p[1]).toBeCloseTo(0.75, 6);
    expect(p[2]).toBe(0);
  });
});
