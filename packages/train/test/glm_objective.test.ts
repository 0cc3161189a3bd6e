import { Rng } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { collateGlm, glmAttentionMask, glmBlankInfilling, glmExample, poisson, sampleSpans } from "../src/index.js";
import { reference, values } from "./helpers.js";

const special = { mask: 507, sop: 508, eop: 509, pad: 0 };

describe("GLM objective", () => {
  it("lays out the paper's Figure 2 example exactly as the fixture", async () => {
    const ref = await reference("glm");
    const x = [193, 54, 141, 221, 316, 210]; // x1..x6: x3 = 141, x5 x6 = 316 210
    const ex = glmExample(
      x,
      [
        { start: 4, length: 2 },
        { start: 2, length: 1 },
      ],
      special,
      0,
    );
    expect(ex.inputIds).toEqual(await values(ref.input_ids!));
    expect([...ex.positions, ...ex.blockPositions]).toEqual(await values(ref.position_ids!));
    expect(ex.targets).toEqual(await values(ref.targets!));
    expect(ex.lossMask).toEqual(await values(ref.loss_mask!));
    expect(ex.sep).toBe((await values(ref.sep!))[0]);
  });

  it("lets Part A see Part A only and Part B see Part A and itself causally", () => {
    const m = glmAttentionMask(2, 4);
    expect(Array.from(m)).toEqual([1, 1, 0, 0, 1, 1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 1]);
  });

  it("samples Poisson(3) spans covering 15% of the tokens, without overlap", () => {
    const rng = new Rng(11);
    const lengths: number[] = [];
    for (let trial = 0; trial < 200; trial++) {
      const n = 100 + trial;
      const spans = sampleSpans(n, rng);
      expect(spans.reduce((a, s) => a + s.length, 0)).toBe(Math.round(0.15 * n));
      spans.forEach((s, i) => {
        expect(s.start).toBeGreaterThanOrEqual(i === 0 ? 0 : spans[i - 1]!.start + spans[i - 1]!.length);
        expect(s.start + s.length).toBeLessThanOrEqual(n);
      });
      lengths.push(...spans.slice(0, -1).map((s) => s.length)); // the last is trimmed to fit
    }
    let draws = 0;
    for (let i = 0; i < 20000; i++) draws += poisson(rng, 3);
    expect(draws / 20000).toBeCloseTo(3, 1);
    // Zero-truncated Poisson(3) has mean 3 / (1 - e^-3) ~ 3.157.
    expect(lengths.reduce((a, l) => a + l, 0) / lengths.length).toBeCloseTo(3.157, 0);
  });

  it("builds consistent examples and batches from a seed", async () => {
    const tokens = Array.from({ length: 40 }, (_, i) => 10 + i);
    const a = glmBlankInfilling(tokens, new Rng(4), special);
    const b = glmBlankInfilling(tokens, new Rng(4), special);
    expect(a).toEqual(b);
    // Every original token is either in Part A or predicted in Part B.
    const partA = a.inputIds.slice(0, a.sep).filter((t) => t !== special.mask);
    const predicted = a.targets.slice(a.sep).filter((t) => t !== special.eop);
    expect([...partA, ...predicted].sort((x, y) => x - y)).toEqual(tokens);
    expect(a.lossMask.reduce((s, v) => s + v, 0)).toBe(a.inputIds.length - a.sep);

    const c = glmBlankInfilling(tokens.slice(0, 20), new Rng(5), special);
    const batch = collateGlm([a, c], special);
    const len = a.inputIds.length;
    expect(batch.ids.shape).toEqual([2, len]);
    expect(batch.positionIds.shape).toEqual([2, 2, len]);
    expect(batch.attentionMask.shape).toEqual([2, len, len]);
    expect(batch.count).toBe(a.inputIds.length - a.sep + c.inputIds.length - c.sep);
    const ids = await values(batch.ids);
    expect(ids.slice(len + c.inputIds.length)).toEqual(new Array(len - c.inputIds.length).fill(0));
  });
});
