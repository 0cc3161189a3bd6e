import { describe, expect, it } from "vitest";
import type { BinaryOp, ReduceOp, StridedView, UnaryOp } from "../src/backend.js";
import { CpuBackend, cpuBackend } from "../src/cpu/backend.js";
import { erf } from "../src/cpu/kernels/erf.js";
import { at, be, contiguousStridesOf, expectClose, indices, naive, randomF32, read, restride, transposed, view } from "./cpu-helpers.js";

/** Strided variants of one logical [2, 3, 4] input: each is checked against the naive reader. */
function variants(seed: number): { name: string; v: StridedView }[] {
  const base = randomF32(64, seed, 6);
  const buf = view(base, [64]).buffer;
  return [
    { name: "contiguous", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [12, 4, 1], 0) },
    { name: "offset", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [12, 4, 1], 5) },
    { name: "transposed", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [1, 2, 6], 0) },
    { name: "negative", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [-12, 4, -1], 40) },
    { name: "broadcast", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [0, 4, 1], 3) },
    { name: "scalar", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [0, 0, 0], 7) },
    { name: "column", v: restride({ buffer: buf } as StridedView, [2, 3, 4], [3, 1, 0], 0) },
  ];
}

describe("cpu buffers", () => {
  it("upload copies, read returns a copy, readSync exists", async () => {
    const src = Float32Array.from([1, 2, 3]);
    const b = be.upload(src, "float32");
    src[0] = 99;
    const r1 = await be.read(b);
    expect(Array.from(r1)).toEqual([1, 2, 3]);
    r1[1] = 42;
    expect(Array.from(be.readSync(b))).toEqual([1, 2, 3]);
    expect(b.size).toBe(3);
    expect(b.dtype).toBe("float32");
    expect(cpuBackend).toBeInstanceOf(CpuBackend);
  });

  it("using a disposed buffer throws a clear error", async () => {
    const b = be.upload(Float32Array.from([1, 2]), "float32");
    be.dispose(b);
    expect(() => be.readSync(b)).toThrow(/after dispose/);
    await expect(be.read(b)).rejects.toThrow(/after dispose/);
    expect(() => be.copy({ buffer: b, shape: [2], strides: [1], offset: 0 })).toThrow(/after dispose/);
  });

  it("rejects foreign buffers", () => {
    expect(() => be.readSync({ size: 1, dtype: "float32" })).toThrow(/created by the cpu backend/);
  });

  it("upload converts numbers to the requested dtype and normalises bools", () => {
    expect(read(be.upload(Float32Array.from([1.5, -2.7]), "int32"))).toEqual([1, -2]);
    expect(read(be.upload(Uint8Array.from([0, 3]), "bool"))).toEqual([0, 1]);
    expect(read(be.upload(Float32Array.from([1, -2]), "float16"))).toEqual([0x3c00, 0xc000]);
    expect(read(be.upload(Uint16Array.from([0x3c00]), "bfloat16"))).toEqual([0x3c00]);
  });

  it("fill works for every dtype", () => {
    expect(read(be.fill(3, 2.5, "float32"))).toEqual([2.5, 2.5, 2.5]);
    expect(read(be.fill(2, 7, "int32"))).toEqual([7, 7]);
    expect(read(be.fill(2, 5, "bool"))).toEqual([1, 1]);
    expect(read(be.fill(1, 1, "float16"))).toEqual([0x3c00]);
    expect(read(be.fill(1, 1, "bfloat16"))).toEqual([0x3f80]);
    expect(read(be.fill(1, -Infinity, "float32"))).toEqual([-Infinity]);
  });
});

describe("cpu copy", () => {
  it("materialises every kind of strided view", () => {
    for (const { name, v } of variants(1)) {
      expect(read(be.copy(v)), name).toEqual(naive(v));
    }
  });

  it("copies int32, bool and half views element for element", () => {
    const v = view([1, 2, 3, 4, 5, 6], [2, 3], { dtype: "int32" });
    expect(read(be.copy(transposed(v)))).toEqual([1, 4, 2, 5, 3, 6]);
    const h = view([1, 2, 3, 4], [4], { dtype: "float16" });
    expect(read(be.copy(restride(h, [4], [-1], 3)))).toEqual([4, 3, 2, 1]);
    const b = view([1, 0, 1], [3], { dtype: "bool" });
    expect(read(be.copy(restride(b, [2, 3], [0, 1], 0)))).toEqual([1, 0, 1, 1, 0, 1]);
  });

  it("handles rank 0 and empty views", () => {
    const v = view([5, 6], [2]);
    expect(read(be.copy(restride(v, [], [], 1)))).toEqual([6]);
    expect(read(be.copy(restride(v, [0, 3], [3, 1], 0)))).toEqual([]);
  });
});

describe("cpu cast", () => {
  it("converts between float32, int32 and bool like a C cast", () => {
    const f = view([1.7, -1.7, 0, NaN, 3], [5]);
    expect(read(be.cast(f, "int32"))).toEqual([1, -1, 0, 0, 3]);
    expect(read(be.cast(f, "bool"))).toEqual([1, 1, 0, 1, 1]);
    const i = view([3, -2, 0], [3], { dtype: "int32" });
    expect(read(be.cast(i, "float32"))).toEqual([3, -2, 0]);
    expect(read(be.cast(i, "bool"))).toEqual([1, 1, 0]);
    const b = view([1, 0], [2], { dtype: "bool" });
    expect(read(be.cast(b, "float32"))).toEqual([1, 0]);
    expect(read(be.cast(b, "int32"))).toEqual([1, 0]);
  });

  it("round-trips through float16 and bfloat16 on strided views", () => {
    const v = view([0.5, -2, 1024, 0.25], [2, 2]);
    const t = transposed(v);
    for (const dtype of ["float16", "bfloat16"] as const) {
      const h = be.cast(t, dtype);
      const back = be.cast({ buffer: h, shape: [2, 2], strides: [2, 1], offset: 0 }, "float32");
      expect(read(back)).toEqual([0.5, 1024, -2, 0.25]);
      const asInt = be.cast({ buffer: h, shape: [4], strides: [1], offset: 0 }, "int32");
      expect(read(asInt)).toEqual([0, 1024, -2, 0]);
      const other = dtype === "float16" ? "bfloat16" : "float16";
      const cross = be.cast({ buffer: h, shape: [4], strides: [1], offset: 0 }, other);
      expect(read(be.cast({ buffer: cross, shape: [4], strides: [1], offset: 0 }, "float32"))).toEqual([0.5, 1024, -2, 0.25]);
    }
  });

  it("same-dtype cast is a copy that does not alias the input", () => {
    const v = view([1, 2, 3], [3]);
    const c = be.cast(v, "float32");
    expect(c).not.toBe(v.buffer);
    expect(read(c)).toEqual([1, 2, 3]);
  });
});

const UNARY_REF: Record<Exclude<UnaryOp, "not">, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: Math.sign,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  tanh: Math.tanh,
  erf: (x) => erfReference(x),
  sin: Math.sin,
  cos: Math.cos,
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erfReference(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  floor: Math.floor,
};

/** erf by composite Simpson integration of 2/sqrt(pi) exp(-t^2): independent of the kernel's method. */
function erfReference(x: number): number {
  const n = 2000;
  const h = x / n;
  let s = 1 + Math.exp(-x * x);
  for (let i = 1; i < n; i++) s += (i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((s * h) / 3) * (2 / Math.sqrt(Math.PI));
}

describe("cpu unary", () => {
  for (const [op, ref] of Object.entries(UNARY_REF) as [UnaryOp, (x: number) => number][]) {
    it(`${op} matches the reference on strided views`, () => {
      for (const { name, v } of variants(2)) {
        const expected = naive(v).map((x) => Math.fround(ref(x)));
        expectClose(read(be.unary(op, v)), expected, 1e-6);
        void name;
      }
    });
  }

  it("erf is accurate to 1e-7 over [-6, 6]", () => {
    let worst = 0;
    for (let x = -6; x <= 6; x += 0.01) worst = Math.max(worst, Math.abs(erf(x) - erfReference(x)));
    expect(worst).toBeLessThan(1.5e-7);
    expect(erf(1e-3)).toBeCloseTo(0.0011283787909692363, 15);
    expect(erf(0.5)).toBeCloseTo(0.5204998778130465, 12);
    expect(erf(-0.9)).toBeCloseTo(-0.7969082124228322, 12);
    expect(erf(Infinity)).toBe(1);
    expect(erf(-Infinity)).toBe(-1);
    expect(Number.isNaN(erf(NaN))).toBe(true);
  });

  it("relu keeps NaN; not works on bool; int32 ops stay int32", () => {
    expect(read(be.unary("relu", view([NaN, -1, 2], [3])))).toEqual([NaN, 0, 2]);
    expect(read(be.unary("not", view([1, 0, 1], [3], { dtype: "bool" })))).toEqual([0, 1, 0]);
    const i = be.unary("neg", view([3, -4], [2], { dtype: "int32" }));
    expect(i.dtype).toBe("int32");
    expect(read(i)).toEqual([-3, 4]);
    expect(read(be.unary("abs", view([-5, 5], [2], { dtype: "int32" })))).toEqual([5, 5]);
  });

  it("computes half types in float32 and rounds back", () => {
    const h = be.cast(view([-1, 0, 4], [3]), "float16");
    const r = be.unary("sqrt", { buffer: h, shape: [3], strides: [1], offset: 0 });
    expect(r.dtype).toBe("float16");
    expect(read(be.cast({ buffer: r, shape: [3], strides: [1], offset: 0 }, "float32"))).toEqual([NaN, 0, 2]);
  });
});

const BINARY_REF: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: (a, b) => a ** b,
  maximum: (a, b) => Math.max(a, b),
  minimum: (a, b) => Math.min(a, b),
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
  and: (a, b) => +(a !== 0 && b !== 0),
  or: (a, b) => +(a !== 0 || b !== 0),
};

describe("cpu binary", () => {
  const vs = variants(3);
  const ws = variants(4);
  for (const [op, ref] of Object.entries(BINARY_REF) as [BinaryOp, (a: number, b: number) => number][]) {
    it(`${op} on float32 over every pair of strided layouts`, () => {
      for (const a of vs) {
        for (const b of ws) {
          // pow needs a positive base to stay real; rounding first keeps comparisons meaningful.
          const av = op === "pow" ? restride(absView(a.v), a.v.shape, contiguousStridesOf(a.v.shape), 0) : a.v;
          const out = be.binary(op, av, b.v);
          const x = naive(av);
          const y = naive(b.v);
          const expected = x.map((xi, i) => ref(xi, y[i]!));
          expect(out.dtype).toBe(["add", "sub", "mul", "div", "pow", "maximum", "minimum"].includes(op) ? "float32" : "bool");
          expectClose(
            read(out),
            expected.map((e) => (out.dtype === "float32" ? Math.fround(e) : e)),
            1e-6,
          );
        }
      }
    });
  }

  it("compares equal elements (broadcast against itself)", () => {
    const v = view([1, 2, 3], [3]);
    const row = restride(v, [2, 3], [0, 1], 0);
    expect(read(be.binary("eq", row, row))).toEqual([1, 1, 1, 1, 1, 1]);
    expect(read(be.binary("le", row, row))).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it("int32 arithmetic wraps and divides toward zero", () => {
    const a = view([7, -7, 2147483647, 65536, 9], [5], { dtype: "int32" });
    const b = view([2, 2, 1, 65536, -3], [5], { dtype: "int32" });
    expect(read(be.binary("div", a, b))).toEqual([3, -3, 2147483647, 1, -3]);
    expect(read(be.binary("add", a, b))).toEqual([9, -5, -2147483648, 131072, 6]);
    expect(read(be.binary("mul", a, b))).toEqual([14, -14, 2147483647, 0, -27]);
    expect(read(be.binary("sub", a, b))).toEqual([5, -9, 2147483646, 0, 12]);
    expect(read(be.binary("maximum", a, b))).toEqual([7, 2, 2147483647, 65536, 9]);
    expect(read(be.binary("pow", view([2, 3], [2], { dtype: "int32" }), view([10, 2], [2], { dtype: "int32" })))).toEqual([1024, 9]);
    expect(read(be.binary("lt", a, b))).toEqual([0, 1, 0, 0, 0]);
  });

  it("bool and/or/eq, and arithmetic on bools stays 0/1", () => {
    const a = view([1, 1, 0, 0], [4], { dtype: "bool" });
    const b = view([1, 0, 1, 0], [4], { dtype: "bool" });
    expect(read(be.binary("add", a, b))).toEqual([1, 1, 1, 0]);
    expect(read(be.binary("sub", b, a))).toEqual([0, 1, 1, 0]);
    expect(read(be.binary("and", a, b))).toEqual([1, 0, 0, 0]);
    expect(read(be.binary("or", a, b))).toEqual([1, 1, 1, 0]);
    expect(read(be.binary("eq", a, b))).toEqual([1, 0, 0, 1]);
  });

  it("maximum/minimum propagate NaN", () => {
    const a = view([NaN, 1], [2]);
    const b = view([0, NaN], [2]);
    expect(read(be.binary("maximum", a, b))).toEqual([NaN, NaN]);
    expect(read(be.binary("minimum", a, b))).toEqual([NaN, NaN]);
  });

  it("computes half types in float32", () => {
    const a = be.cast(view([1, 2], [2]), "bfloat16");
    const v = { buffer: a, shape: [2], strides: [1], offset: 0 };
    const s = be.binary("add", v, v);
    expect(s.dtype).toBe("bfloat16");
    expect(read(be.cast({ ...v, buffer: s }, "float32"))).toEqual([2, 4]);
    expect(be.binary("lt", v, v).dtype).toBe("bool");
  });
});

function absView(v: StridedView): StridedView {
  return { buffer: be.unary("abs", v), shape: v.shape, strides: contiguousStridesOf(v.shape), offset: 0 };
}

describe("cpu where", () => {
  it("selects element-wise with broadcast condition and operands", () => {
    const cond = view([1, 0, 1, 0], [4], { dtype: "bool" });
    const c = restride(cond, [3, 4], [0, 1], 0);
    const a = view(randomF32(12, 5), [3, 4]);
    const b = restride(view([9, 8, 7], [3]), [3, 4], [1, 0], 0);
    const expected = [...indices([3, 4])].map((i) => (at(c, i) ? at(a, i) : at(b, i)));
    expect(read(be.where(c, a, b))).toEqual(expected);
  });

  it("keeps half bit patterns and int32 values", () => {
    const cond = view([1, 0], [2], { dtype: "bool" });
    const a = view([0x3c00, 0x4000], [2], { dtype: "float16" });
    const b = view([0x7e00, 0xfc00], [2], { dtype: "float16" });
    const r = be.where(cond, a, b);
    expect(r.dtype).toBe("float16");
    expect(read(r)).toEqual([0x3c00, 0xfc00]);
    const ai = view([1, 2], [2], { dtype: "int32" });
    const bi = view([3, 4], [2], { dtype: "int32" });
    expect(read(be.where(cond, ai, bi))).toEqual([1, 4]);
  });
});

function reduceRef(op: ReduceOp, v: StridedView, axes: readonly number[]): number[] {
  const outShape = v.shape.map((d, i) => (axes.includes(i) ? 1 : d));
  const init = { sum: 0, prod: 1, max: -Infinity, min: Infinity }[op];
  const out = new Array<number>(outShape.reduce((a, b) => a * b, 1)).fill(init);
  const os = contiguousStridesOf(outShape);
  for (const idx of indices(v.shape)) {
    let o = 0;
    idx.forEach((x, d) => (o += axes.includes(d) ? 0 : x * os[d]!));
    const x = at(v, idx);
    const cur = out[o]!;
    out[o] =
      op === "sum"
        ? cur + x
        : op === "prod"
          ? cur * x
          : op === "max"
            ? cur > x || cur !== cur
              ? cur
              : x
            : cur < x || cur !== cur
              ? cur
              : x;
  }
  return out;
}

describe("cpu reduce", () => {
  const axesSets = [[0], [1], [2], [0, 1], [0, 2], [1, 2], [0, 1, 2], []];
  for (const op of ["sum", "max", "min", "prod"] as const) {
    it(`${op} over every set of axes of strided views`, () => {
      for (const { name, v } of variants(6)) {
        for (const axes of axesSets) {
          const out = be.reduce(op, v, axes);
          expect(out.size, `${name} ${axes}`).toBe(v.shape.reduce((a, d, i) => a * (axes.includes(i) ? 1 : d), 1));
          expectClose(read(out), reduceRef(op, v, axes).map(Math.fround), 1e-5);
        }
      }
    });
  }

  it("propagates NaN in max/min and sums int32 exactly", () => {
    const v = view([1, NaN, 3, 4, 5, 6], [2, 3]);
    expect(read(be.reduce("max", v, [1]))).toEqual([NaN, 6]);
    expect(read(be.reduce("min", v, [0]))).toEqual([1, NaN, 3]);
    const i = view([2147483647, 1, -5, 7], [2, 2], { dtype: "int32" });
    expect(read(be.reduce("sum", i, [1]))).toEqual([-2147483648, 2]);
    expect(read(be.reduce("prod", i, [0]))).toEqual([-2147483643, 7]); // 2147483647 * -5 wraps
    expect(read(be.reduce("max", i, [0, 1]))).toEqual([2147483647]);
  });

  it("reduces bools as any/all and halves in float32", () => {
    const b = view([1, 0, 0, 0], [2, 2], { dtype: "bool" });
    expect(read(be.reduce("max", b, [1]))).toEqual([1, 0]);
    expect(read(be.reduce("min", b, [1]))).toEqual([0, 0]);
    const h = be.cast(view([1, 2, 3, 4], [2, 2]), "float16");
    const s = be.reduce("sum", { buffer: h, shape: [2, 2], strides: [2, 1], offset: 0 }, [0]);
    expect(s.dtype).toBe("float16");
    expect(read(be.cast({ buffer: s, shape: [2], strides: [1], offset: 0 }, "float32"))).toEqual([4, 6]);
  });

  it("sums long rows accurately", () => {
    const v = view(new Float32Array(100000).fill(0.1), [100000]);
    expect(read(be.reduce("sum", v, [0]))[0]).toBeCloseTo(100000 * Math.fround(0.1), 1);
  });
});

describe("cpu argmax", () => {
  it("finds the first maximum along each axis of strided views", () => {
    for (const { name, v } of variants(7)) {
      for (let axis = 0; axis < 3; axis++) {
        const outShape = v.shape.map((d, i) => (i === axis ? 1 : d));
        const expected: number[] = [];
        for (const idx of indices(outShape)) {
          let best = -Infinity;
          let bestK = 0;
          for (let k = 0; k < v.shape[axis]!; k++) {
            const x = at(
              v,
              idx.map((t, d) => (d === axis ? k : t)),
            );
            if (x > best) [best, bestK] = [x, k];
          }
          expected.push(bestK);
        }
        const out = be.argmax(v, axis);
        expect(out.dtype).toBe("int32");
        expect(read(out), `${name} axis ${axis}`).toEqual(expected);
      }
    }
  });

  it("returns the first index on ties and the first NaN", () => {
    expect(read(be.argmax(view([1, 3, 3, 2], [4]), 0))).toEqual([1]);
    expect(read(be.argmax(view([1, NaN, 3, NaN], [4]), 0))).toEqual([1]);
    expect(read(be.argmax(view([NaN, 5], [2]), 0))).toEqual([0]);
    expect(read(be.argmax(view([-Infinity, -Infinity], [2]), 0))).toEqual([0]);
    expect(read(be.argmax(view([4, 9, 9, 1], [4], { dtype: "int32" }), 0))).toEqual([1]);
  });
});

describe("cpu cumsum", () => {
  it("prefix-sums along each axis of strided views", () => {
    for (const { name, v } of variants(8)) {
      for (let axis = 0; axis < 3; axis++) {
        const expected = [...indices(v.shape)].map((idx) => {
          let s = 0;
          for (let k = 0; k <= idx[axis]!; k++)
            s += at(
              v,
              idx.map((t, d) => (d === axis ? k : t)),
            );
          return Math.fround(s);
        });
        expectClose(read(be.cumsum(v, axis)), expected, 1e-5);
        void name;
      }
    }
  });

  it("works on int32", () => {
    expect(read(be.cumsum(view([1, 2, 3, 4], [2, 2], { dtype: "int32" }), 0))).toEqual([1, 2, 4, 6]);
  });
});

describe("cpu gather / scatterAdd", () => {
  it("gather follows numpy.take on every axis with 2-D indices", () => {
    for (const { name, v } of variants(9)) {
      for (let axis = 0; axis < 3; axis++) {
        const len = v.shape[axis]!;
        const idxValues = [len - 1, 0, len - 1, Math.min(1, len - 1), 0, -1];
        const idx = view(idxValues, [2, 3], { dtype: "int32" });
        const outShape = [...v.shape.slice(0, axis), 2, 3, ...v.shape.slice(axis + 1)];
        const expected = [...indices(outShape)].map((o) => {
          const j = idxValues[o[axis]! * 3 + o[axis + 1]!]!;
          const src = [...o.slice(0, axis), j < 0 ? j + len : j, ...o.slice(axis + 2)];
          return at(v, src);
        });
        expect(read(be.gather(v, idx, axis)), `${name} axis ${axis}`).toEqual(expected);
      }
    }
  });

  it("gathers embedding rows of any dtype and accepts strided indices", () => {
    const w = view(
      Array.from({ length: 40 }, (_, i) => i),
      [10, 4],
      { dtype: "int32" },
    );
    const ids = restride(view([3, 9, 0], [3], { dtype: "int32" }), [3], [-1], 2);
    expect(read(be.gather(w, ids, 0))).toEqual([0, 1, 2, 3, 36, 37, 38, 39, 12, 13, 14, 15]);
    const h = view([1, 2, 3, 4, 5, 6], [3, 2], { dtype: "bfloat16" });
    expect(read(be.gather(h, view([2], [1], { dtype: "int32" }), 0))).toEqual([5, 6]);
  });

  it("scatterAdd is the adjoint of gather and accumulates repeats", () => {
    for (let axis = 0; axis < 3; axis++) {
      const shape = [2, 3, 4];
      const len = shape[axis]!;
      const idxValues = [len - 1, 0, len - 1, 0, 1 % len];
      const idx = view(idxValues, [5], { dtype: "int32" });
      const updShape = shape.map((d, i) => (i === axis ? 5 : d));
      const upd = view(
        randomF32(
          updShape.reduce((a, b) => a * b),
          10 + axis,
        ),
        updShape,
      );
      const expected = new Array<number>(24).fill(0);
      const os = contiguousStridesOf(shape);
      for (const u of indices(updShape)) {
        const dst = u.map((t, d) => (d === axis ? idxValues[t]! : t));
        expected[dst.reduce((a, t, d) => a + t * os[d]!, 0)] += at(upd, u);
      }
      expectClose(read(be.scatterAdd(upd, idx, axis, shape)), expected.map(Math.fround), 1e-6);
    }
  });

  it("scatterAdd on transposed updates, int32 and halves", () => {
    const upd = transposed(view([1, 2, 3, 4, 5, 6], [2, 3], { dtype: "int32" })); // [3,2]: [[1,4],[2,5],[3,6]]
    const idx = view([1, 1, 0], [3], { dtype: "int32" });
    expect(read(be.scatterAdd(upd, idx, 0, [2, 2]))).toEqual([3, 6, 3, 9]);
    const h = be.cast(view([1, 2], [2]), "float16");
    const r = be.scatterAdd({ buffer: h, shape: [2], strides: [1], offset: 0 }, view([0, 0], [2], { dtype: "int32" }), 0, [2]);
    expect(r.dtype).toBe("float16");
    expect(read(r)).toEqual([0x4200, 0]);
  });
});

describe("cpu concat", () => {
  it("joins strided views along each axis", () => {
    const vs = variants(11);
    for (let axis = 0; axis < 3; axis++) {
      const parts = [vs[2]!.v, vs[3]!.v, vs[4]!.v];
      const shape = [2, 3, 4].map((d, i) => (i === axis ? 3 * d : d));
      const expected = [...indices(shape)].map((o) => {
        const part = Math.floor(o[axis]! / [2, 3, 4][axis]!);
        return at(
          parts[part]!,
          o.map((t, d) => (d === axis ? t % [2, 3, 4][axis]! : t)),
        );
      });
      expect(read(be.concat(parts, axis))).toEqual(expected);
    }
  });

  it("joins parts of different lengths and dtypes", () => {
    const a = view([1, 2], [1, 2], { dtype: "int32" });
    const b = view([3, 4, 5, 6], [2, 2], { dtype: "int32" });
    expect(read(be.concat([a, b], 0))).toEqual([1, 2, 3, 4, 5, 6]);
    expect(read(be.concat([transposed(b), a], 0))).toEqual([3, 5, 4, 6, 1, 2]);
    const h = view([1, 2], [2], { dtype: "float16" });
    const c = be.concat([h, h], 0);
    expect(c.dtype).toBe("float16");
    expect(read(c)).toEqual([1, 2, 1, 2]);
  });
});

describe("cpu fused kernels", () => {
  const fused = be.fused!;

  function softmaxRef(row: number[]): number[] {
    const m = Math.max(...row);
    if (m === -Infinity) return row.map(() => 0);
    const e = row.map((x) => Math.exp(x - m));
    const s = e.reduce((a, b) => a + b, 0);
    return e.map((x) => x / s);
  }

  it("softmax and logSoftmax match the reference on strided views", () => {
    for (const { name, v } of variants(12)) {
      const rows = naive(v);
      const expected: number[] = [];
      const expectedLog: number[] = [];
      for (let r = 0; r < 6; r++) {
        const row = rows.slice(r * 4, r * 4 + 4);
        const s = softmaxRef(row);
        expected.push(...s);
        expectedLog.push(...s.map(Math.log));
      }
      expectClose(read(fused.softmax!(v)), expected, 1e-6);
      expectClose(read(fused.logSoftmax!(v)), expectedLog, 1e-5);
      void name;
    }
  });

  it("masks: -Infinity gives 0 probability, an all -Infinity row gives zeros / -Infinity", () => {
    const v = view([0, -Infinity, 0, -Infinity, -Infinity, -Infinity, 1000, 1001, -Infinity], [3, 3]);
    const p = read(fused.softmax!(v));
    expectClose(p.slice(0, 3), [0.5, 0, 0.5]);
    expect(p.slice(3, 6)).toEqual([0, 0, 0]);
    expectClose(p.slice(6), [1 / (1 + Math.E), Math.E / (1 + Math.E), 0]);
    const l = read(fused.logSoftmax!(v));
    expectClose(l.slice(0, 3), [-Math.LN2, -Infinity, -Math.LN2]);
    expect(l.slice(3, 6)).toEqual([-Infinity, -Infinity, -Infinity]);
  });

  it("layerNorm uses the biased variance and applies weight and bias", () => {
    const x = view(randomF32(24, 13, 10), [2, 3, 4]);
    const xt = restride(x, [2, 3, 4], [12, 1, 3], 0);
    const w = view([1, 2, -1, 0.5], [4]);
    const b = view([0, 1, 2, 3], [4]);
    for (const input of [x, xt]) {
      const rows = naive(input);
      for (const [wv, bv] of [
        [w, b],
        [w, null],
        [null, b],
        [null, null],
      ] as const) {
        const expected: number[] = [];
        for (let r = 0; r < 6; r++) {
          const row = rows.slice(r * 4, r * 4 + 4);
          const mean = row.reduce((a, c) => a + c, 0) / 4;
          const variance = row.reduce((a, c) => a + (c - mean) ** 2, 0) / 4;
          row.forEach((c, i) => expected.push(((c - mean) / Math.sqrt(variance + 1e-5)) * (wv ? at(wv, [i]) : 1) + (bv ? at(bv, [i]) : 0)));
        }
        expectClose(read(fused.layerNorm!(input, wv, bv, 1e-5)), expected, 1e-5);
      }
    }
  });

  it("rmsNorm scales by the root mean square", () => {
    const x = view(randomF32(12, 14, 4), [3, 4]);
    const w = restride(view([1, 2, 3, 4], [4]), [4], [-1], 3);
    const rows = naive(x);
    const expected: number[] = [];
    for (let r = 0; r < 3; r++) {
      const row = rows.slice(r * 4, r * 4 + 4);
      const rms = Math.sqrt(row.reduce((a, c) => a + c * c, 0) / 4 + 1e-6);
      row.forEach((c, i) => expected.push((c / rms) * (4 - i)));
    }
    expectClose(read(fused.rmsNorm!(x, w, 1e-6)), expected, 1e-5);
    const noW = read(fused.rmsNorm!(x, null, 1e-6));
    expectClose(
      noW,
      expected.map((e, i) => e / (4 - (i % 4))),
      1e-5,
    );
  });
});
