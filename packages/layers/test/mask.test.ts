import { describe, expect, it } from "vitest";
import { tensor } from "@llm/tensor";
import { buildAttentionMask, defaultPositionIds } from "@llm/layers";
import { values } from "./helpers.js";

describe("buildAttentionMask", () => {
  it("is causal over cached keys: query i of 2 new tokens after 2 cached sees keys 0..2+i", () => {
    const mask = buildAttentionMask(2, 4)!;
    expect(mask.shape).toEqual([1, 1, 2, 4]);
    expect(values(mask)).toEqual([1, 1, 1, 0, 1, 1, 1, 1]);
  });

  it("is null for one new token and no padding (it sees every key)", () => {
    expect(buildAttentionMask(1, 5)).toBeNull();
  });

  it("combines a padding mask [batch, keys] with the causal mask", () => {
    const mask = buildAttentionMask(
      3,
      3,
      tensor(
        [
          [0, 1, 1],
          [1, 1, 1],
        ],
        { dtype: "int32" },
      ),
    )!;
    expect(mask.shape).toEqual([2, 1, 3, 3]);
    expect(values(mask)).toEqual([0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1]);
  });

  it("uses a full [batch, queries, keys] mask as given (GLM's Part A / Part B)", () => {
    const full = tensor([
      [
        [true, true],
        [true, false],
      ],
    ]);
    expect(values(buildAttentionMask(2, 2, full)!)).toEqual([1, 1, 1, 0]);
  });

  it("names the shapes it accepts when the mask fits none", () => {
    expect(() => buildAttentionMask(2, 3, tensor([[1, 1]], { dtype: "int32" }))).toThrow(
      /attentionMask: expected \[batch, 3\] \(padding\), \[batch, 2, 3\] or \[batch, 1, 2, 3\], found \[1,2\]/,
    );
  });
});

describe("defaultPositionIds", () => {
  it("counts on from the cache", () => {
    expect(values(defaultPositionIds(2, 3, 4))).toEqual([4, 5, 6, 4, 5, 6]);
  });

  it("skips left padding, as generate does", () => {
    const padding = tensor(
      [
        [0, 0, 1, 1],
        [1, 1, 1, 1],
      ],
      { dtype: "int32" },
    );
    expect(values(defaultPositionIds(2, 4, 0, padding))).toEqual([0, 0, 0, 1, 0, 1, 2, 3]);
    expect(values(defaultPositionIds(2, 1, 3, padding))).toEqual([1, 3]);
  });
});
