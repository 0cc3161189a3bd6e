import { tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { clipGradNorm, linearWarmup, warmupCosine, formatProgress, formatDuration } from "../src/index.js";

describe("schedules", () => {
  it("warms up linearly, then follows half a cosine down to minFactor", () => {
    const s = warmupCosine({ warmupSteps: 4, totalSteps: 14, minFactor: 0.1 });
    expect([0, 1, 2, 3].map(s)).toEqual([0.25, 0.5, 0.75, 1]);
    expect(s(4)).toBeCloseTo(1, 12);
    expect(s(9)).toBeCloseTo(0.55, 12);
    expect(s(14)).toBeCloseTo(0.1, 12);
    expect(s(100)).toBeCloseTo(0.1, 12);
    expect(linearWarmup(0)(0)).toBe(1);
    expect(() => warmupCosine({ warmupSteps: 5, totalSteps: 5 })).toThrow(/totalSteps must be an integer > warmupSteps \(5\), got 5/);
  });
});

describe("clipGradNorm", () => {
  it("scales gradients to the max norm when the global norm exceeds it", async () => {
    const a = tensor([1, 1]).requireGrad();
    const b = tensor([1]).requireGrad();
    a.grad = tensor([3, 0]).keep();
    b.grad = tensor([4]).keep();
    const norm = clipGradNorm([a, b], 1);
    expect(await norm.item()).toBeCloseTo(5, 6);
    expect(Array.from(await a.grad!.data())[0]).toBeCloseTo(3 / (5 + 1e-6), 6);
    expect(Array.from(await b.grad!.data())[0]).toBeCloseTo(4 / (5 + 1e-6), 6);
  });

  it("leaves gradients below the max norm alone", async () => {
    const a = tensor([1]).requireGrad();
    a.grad = tensor([0.5]).keep();
    expect(await clipGradNorm([a], 1).item()).toBeCloseTo(0.5, 6);
    expect(await a.grad!.item()).toBe(0.5);
  });
});

describe("progress", () => {
  it("shows step, loss, tokens/s and ETA", () => {
    const line = formatProgress({ step: 5, total: 10, loss: 2.5, tokensPerSecond: 12345.6, etaSeconds: 75 }, 10);
    expect(line).toBe("step 5/10 [=====>    ] | loss 2.5000 | 12,346 tok/s | ETA 1m15s");
    expect(formatDuration(3725)).toBe("1h02m");
  });
});
