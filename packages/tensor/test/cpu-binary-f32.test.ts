import { describe, expect, it } from "vitest";
import type { BinaryOp, StridedView } from "../src/backend.js";
import { be, randomF32, read, view } from "./cpu-helpers.js";

// The float32 fast paths (dense, one b value, one a value per run) against a naive strided loop,
// in every layout that selects them and one that does not.
const OPS: [BinaryOp, (x: number, y: number) => number][] = [
  ["add", (x, y) => x + y],
  ["sub", (x, y) => x - y],
  ["mul", (x, y) => x * y],
  ["div", (x, y) => x / y],
];

function naive(f: (x: number, y: number) => number, a: StridedView, b: StridedView): number[] {
  const [R, C] = a.shape as [number, number];
  const A = read(a.buffer);
  const B = read(b.buffer);
  const out: number[] = [];
  for (let r = 0; r < R; r++) {
    for (let c = 0; c < C; c++) {
      const x = A[a.offset + r * a.strides[0]! + c * a.strides[1]!]!;
      const y = B[b.offset + r * b.strides[0]! + c * b.strides[1]!]!;
      out.push(Math.fround(f(x, y)));
    }
  }
  return out;
}

describe("cpu float32 binary fast paths", () => {
  const R = 5;
  const C = 37;
  const full = (seed: number) =>
    view(
      randomF32(R * C + 3, seed, 4).map((v) => v + 3),
      [R * C + 3],
    ).buffer;
  const at = (buffer: StridedView["buffer"], strides: number[], offset = 0): StridedView => ({ buffer, shape: [R, C], strides, offset });
  const layouts: [string, () => [StridedView, StridedView]][] = [
    ["dense, dense with offsets", () => [at(full(1), [C, 1], 2), at(full(2), [C, 1], 1)]],
    ["dense, scalar", () => [at(full(3), [C, 1]), at(full(4), [0, 0], 7)]],
    ["scalar, dense", () => [at(full(5), [0, 0], 3), at(full(6), [C, 1])]],
    ["dense, row vector", () => [at(full(7), [C, 1]), at(full(8), [0, 1], 2)]],
    ["dense, column", () => [at(full(9), [C, 1]), at(full(10), [1, 0])]],
    ["column, dense", () => [at(full(11), [1, 0], 4), at(full(12), [C, 1])]],
    ["transposed (general loop)", () => [at(full(13), [1, R]), at(full(14), [C, 1])]],
  ];
  for (const [name, make] of layouts) {
    for (const [op, f] of OPS) {
      it(`${op}: ${name}`, () => {
        const [a, b] = make();
        expect(Array.from(read(be.binary(op, a, b)))).toEqual(naive(f, a, b));
      });
    }
  }
});
