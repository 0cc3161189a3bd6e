import { randn, tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { maskedCrossEntropy } from "../src/index.js";

/** Reference in float64: -log softmax(row)[target], summed over counted targets. */
function reference(logits: Float32Array, targets: number[], vocab: number, counted: boolean[]): { sum: number; count: number } {
  let sum = 0;
  let count = 0;
  targets.forEach((t, i) => {
    if (!counted[i]) return;
    const row = Array.from(logits.subarray(i * vocab, (i + 1) * vocab));
    const max = Math.max(...row);
    const lse = max + Math.log(row.reduce((a, x) => a + Math.exp(x - max), 0));
    sum += lse - row[t]!;
    count++;
  });
  return { sum, count };
}

describe("maskedCrossEntropy", () => {
  const vocab = 7;
  const logits = randn([2, 3, vocab], { seed: 1 });
  const host = logits.dataSync() as Float32Array;
  const targetValues = [1, -100, 6, 0, 3, 2];
  const targets = tensor(Int32Array.from(targetValues), { shape: [2, 3], dtype: "int32" });
  const maskValues = [1, 1, 0, 1, 1, 1];
  const mask = tensor(Uint8Array.from(maskValues), { shape: [2, 3], dtype: "bool" });

  it("averages over targets that are neither ignored nor masked", async () => {
    const counted = targetValues.map((t, i) => t !== -100 && maskValues[i] === 1);
    const ref = reference(host, targetValues, vocab, counted);
    expect(ref.count).toBe(4);
    expect(await maskedCrossEntropy(logits, targets, { mask }).item()).toBeCloseTo(ref.sum / ref.count, 5);
    expect(await maskedCrossEntropy(logits, targets, { mask, reduction: "sum" }).item()).toBeCloseTo(ref.sum, 4);
    const unmasked = reference(
      host,
      targetValues,
      vocab,
      targetValues.map((t) => t !== -100),
    );
    expect(await maskedCrossEntropy(logits, targets).item()).toBeCloseTo(unmasked.sum / unmasked.count, 5);
  });

  it("accepts a 0/1 float mask and gives masked rows no gradient", async () => {
    const x = randn([2, 3, vocab], { seed: 2 }).requireGrad();
    const floatMask = tensor(Float32Array.from(maskValues), { shape: [2, 3] });
    maskedCrossEntropy(x, targets, { mask: floatMask }).backward();
    const grad = (await x.grad!.data()) as Float32Array;
    for (const row of [1, 2]) expect(Array.from(grad.subarray(row * vocab, (row + 1) * vocab)).every((g) => g === 0)).toBe(true);
    const rowSum = Array.from(grad.subarray(0, vocab)).reduce((a, g) => a + g, 0);
    expect(Math.abs(rowSum)).toBeLessThan(1e-6);
  });

  it("names a mask of the wrong shape", () => {
    expect(() => maskedCrossEntropy(logits, targets, { mask: tensor([1, 1, 1], { dtype: "bool" }) })).toThrow(
      /mask must have the targets' shape \[2, 3\], got \[3\]/,
    );
  });
});
