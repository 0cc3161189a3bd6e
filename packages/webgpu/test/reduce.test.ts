import { describe, expect, it } from "vitest";
import type { ReduceOp } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";
import { at, expectClose, flip, forEachIndex, randomArray, transpose, whole, type HostView } from "./helpers/reference.js";

reportSkip();

function reduceRef(op: ReduceOp, v: HostView, axes: number[]): number[] {
  const outShape = v.shape.map((n, d) => (axes.includes(d) ? 1 : n));
  const init = { sum: 0, prod: 1, max: -Infinity, min: Infinity }[op];
  const acc: number[] = [];
  forEachIndex(outShape, (oc) => {
    let a = init;
    const redShape = v.shape.map((n, d) => (axes.includes(d) ? n : 1));
    forEachIndex(redShape, (rc) => {
      const x = at(
        v,
        oc.map((c, d) => c + rc[d]!),
      );
      a = op === "sum" ? a + x : op === "prod" ? a * x : op === "max" ? Math.max(a, x) : Math.min(a, x);
    });
    acc.push(a);
  });
  return acc;
}

describe.skipIf(!backend)("webgpu reductions", () => {
  const b = backend!;

  const shapes: [number[], number[]][] = [
    [[4, 5, 6], [2]],
    [[4, 5, 6], [0]],
    [
      [4, 5, 6],
      [0, 2],
    ],
    [
      [4, 5, 6],
      [0, 1, 2],
    ],
    [[3, 300], [1]], // long rows: one workgroup per output
    [[2000, 3], [0]], // long strided columns
    [[9000, 70], [1]], // many outputs, medium rows
  ];
  for (const op of ["sum", "max", "min", "prod"] as ReduceOp[]) {
    it.each(shapes)(`${op} of a transposed/flipped %j view over axes %j`, async (shape, axes) => {
      const n = shape.reduce((a, c) => a * c, 1);
      const data = op === "prod" ? randomArray(n, 3, 0.9, 1.1) : randomArray(n, 3);
      // Build the view as a flip of the transpose of a buffer laid out with the first two dims swapped.
      const storage = [shape[1]!, shape[0]!, ...shape.slice(2)];
      const v = flip(transpose(whole(b.upload(data, "float32"), data, storage), 0, 1), shape.length - 1);
      const out = b.reduce(op, v.gpu, axes);
      expectClose(await b.read(out), reduceRef(op, v.host, axes), op === "sum" ? 1e-5 : 1e-6, `${op} ${shape} ${axes}`);
      b.dispose(out);
    });
  }

  it("sums int32 exactly (wrapping) and bool as any-true", async () => {
    const ints = new Int32Array([2147483647, 1, 5, -5]);
    const iv = whole(b.upload(ints, "int32"), ints, [2, 2]).gpu;
    expect(Array.from(await b.read(b.reduce("sum", iv, [1])))).toEqual([-2147483648, 0]);
    expect(Array.from(await b.read(b.reduce("max", iv, [0])))).toEqual([2147483647, 1]);
    const bools = new Uint8Array([0, 0, 1, 0]);
    const bv = whole(b.upload(bools, "bool"), bools, [2, 2]).gpu;
    expect(Array.from(await b.read(b.reduce("sum", bv, [1])))).toEqual([0, 1]);
  });

  it("max propagates NaN; sums of halves round back", async () => {
    const vals = new Float32Array([1, NaN, 3, 2, 5, 4]);
    const v = whole(b.upload(vals, "float32"), vals, [2, 3]).gpu;
    expect(Array.from(await b.read(b.reduce("max", v, [1])))).toEqual([NaN, 5]);
    const h = whole(b.upload(new Float32Array([1, 2, 3, 0.5]), "float16"), [], [4]).gpu;
    expect(Array.from(await b.read(b.reduce("sum", h, [0])))).toEqual([0x4680]); // 6.5
  });

  it.each([
    [[4, 7], 1],
    [[4, 7], 0],
    [[2, 3, 500], 2], // workgroup per output
    [[1, 50257], 1], // a vocabulary row, as in greedy decoding
  ] as [number[], number][])("argmax of %j along %i takes the first maximum", async (shape, axis) => {
    const n = shape.reduce((a, c) => a * c, 1);
    const data = randomArray(n, 5).map((v) => Math.round(v * 4) / 4); // many ties
    const v = whole(b.upload(data, "float32"), data, shape);
    const out = await b.read(b.argmax(v.gpu, axis));
    const outShape = shape.map((s, d) => (d === axis ? 1 : s));
    const expected: number[] = [];
    forEachIndex(outShape, (oc) => {
      let best = -Infinity;
      let bi = 0;
      for (let k = 0; k < shape[axis]!; k++) {
        const c = oc.slice();
        c[axis] = k;
        const x = at(v.host, c);
        if (x > best) [best, bi] = [x, k];
      }
      expected.push(bi);
    });
    expect(Array.from(out)).toEqual(expected);
  });

  it("argmax: a NaN wins (the first one), ints compare exactly", async () => {
    const vals = new Float32Array([1, NaN, 3, NaN, 9]);
    expect(Array.from(await b.read(b.argmax(whole(b.upload(vals, "float32"), vals, [5]).gpu, 0)))).toEqual([1]);
    const big = new Float32Array(600).fill(1);
    big[400] = NaN;
    big[500] = NaN;
    expect(Array.from(await b.read(b.argmax(whole(b.upload(big, "float32"), big, [600]).gpu, 0)))).toEqual([400]);
    const ints = new Int32Array([16777217, 16777216]);
    expect(Array.from(await b.read(b.argmax(whole(b.upload(ints, "int32"), ints, [2]).gpu, 0)))).toEqual([0]);
  });

  it("cumsum along an inner and an outer axis of a strided view", async () => {
    const data = randomArray(24, 2);
    const v = transpose(whole(b.upload(data, "float32"), data, [4, 6]), 0, 1); // [6, 4]
    for (const axis of [0, 1]) {
      const out = await b.read(b.cumsum(v.gpu, axis));
      const expected: number[] = [];
      forEachIndex([6, 4], (c) => {
        let s = 0;
        for (let k = 0; k <= c[axis]!; k++) {
          const cc = c.slice();
          cc[axis] = k;
          s += at(v.host, cc);
        }
        expected.push(s);
      });
      expectClose(out, expected, 1e-5, `cumsum axis ${axis}`);
    }
  });
});
