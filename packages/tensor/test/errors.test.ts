import { describe, expect, test } from "vitest";
import { arange, concat, DTypeError, matmul, ShapeError, split, tensor, zeros } from "../src/index.js";

describe("bad input is a clear error naming what was expected and found", () => {
  test("mismatched shapes", () => {
    expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow(ShapeError);
    expect(() => tensor([1, 2, 3]).add(tensor([1, 2]))).toThrow("add: shapes [3] and [2] cannot be broadcast");
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(
      "matmul: inner dimensions differ: a has shape [2,3] (K=3), b has shape [4,5] (K=4)",
    );
    expect(() => zeros([2, 3]).reshape(4, 2)).toThrow("reshape: cannot reshape [2,3] (6 elements) into [4,2] (8 elements)");
    expect(() => concat([zeros([2, 3]), zeros([3, 3])], 1)).toThrow(/tensor 1 has shape \[3,3\].*tensor 0's \[2,3\] outside axis 1/);
    expect(() => split(zeros([5]), 2)).toThrow("split: cannot split axis 0 of size 5 into 2 equal pieces");
    expect(() => zeros([2, 3]).sum(2)).toThrow("sum: axis 2 is out of range for a tensor of rank 2");
    expect(() => tensor([[1, 2], [3]])).toThrow(/ragged nested array/);
    expect(() => zeros([4]).layerNorm(zeros([3]), null)).toThrow("layerNorm: weight must have shape [4] (the last dim of x [4]), got [3]");
    expect(() => zeros([3]).take(tensor(new Int32Array([3])))).toThrow(
      "take: index 3 (at flat position 0) is out of range for axis 0 of size 3",
    );
  });
  test("wrong dtypes", () => {
    expect(() => arange(3).exp()).toThrow(DTypeError);
    expect(() => arange(3).exp()).toThrow("exp: input must be float32, got int32");
    expect(() => zeros([2]).cast("float16").add(1)).toThrow(/add: input must be float32 or int32, got float16/);
    expect(() => zeros([2]).add(arange(2))).toThrow("add: operands must share a dtype, got float32 and int32");
    expect(() => zeros([2]).take(zeros([1]))).toThrow("take: indices must be int32, got float32");
    expect(() => arange(2).add(0.5)).toThrow(/cannot combine an int32 tensor with the non-integer 0.5/);
    expect(() => arange(2).requireGrad()).toThrow("requireGrad: only float32 tensors have gradients, got int32");
  });
});
