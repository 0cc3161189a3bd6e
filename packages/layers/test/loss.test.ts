import { describe, expect, it } from "vitest";
import { tensor } from "@llm/tensor";
import { crossEntropy } from "@llm/layers";

describe("crossEntropy", () => {
  const logits = [
    [1, 2, 3],
    [0, 0, 0],
  ];
  const nll = (row: number[], t: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[t]!;

  it("is the mean negative log-probability of the targets", () => {
    const loss = crossEntropy(tensor(logits), tensor([2, 1], { dtype: "int32" }));
    expect(loss.dataSync()[0]).toBeCloseTo((nll(logits[0]!, 2) + nll(logits[1]!, 1)) / 2, 6);
  });

  it("leaves ignored targets out of the mean and differentiates through logits", () => {
    const x = tensor(logits, { requiresGrad: true });
    const loss = crossEntropy(x, tensor([0, -100], { dtype: "int32" }), { ignoreIndex: -100 });
    expect(loss.dataSync()[0]).toBeCloseTo(nll(logits[0]!, 0), 6);
    loss.backward();
    const g = Array.from(x.grad!.dataSync());
    expect(g.slice(3)).toEqual([0, 0, 0]);
    expect(g.slice(0, 3).reduce((a, b) => a + b, 0)).toBeCloseTo(0, 6);
  });

  it("names bad targets", () => {
    expect(() => crossEntropy(tensor(logits), tensor([0, 3], { dtype: "int32" }))).toThrow(/target 3 is outside the vocabulary \[0, 3\)/);
    expect(() => crossEntropy(tensor(logits), tensor([0, 1]))).toThrow(/expected int32 targets of shape \[2\]/);
  });
});
