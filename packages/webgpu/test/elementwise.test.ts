import { describe, expect, it } from "vitest";
import type { BinaryOp, UnaryOp } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/half.js";
import { broadcast, expectClose, flip, materialize, narrow, randomArray, transpose, whole, type ViewPair } from "./helpers/reference.js";

reportSkip();

const erf = (x: number): number => {
  // Reference erf in float64: Taylor series near 0, erfc's continued fraction beyond.
  if (Math.abs(x) < 2.5) {
    let sum = x;
    let term = x;
    for (let n = 1; n < 80; n++) {
      term *= (-x * x) / n;
      sum += term / (2 * n + 1);
    }
    return (2 / Math.sqrt(Math.PI)) * sum;
  }
  const a = Math.abs(x);
  let f = a;
  for (let n = 60; n >= 1; n--) f = a + n / 2 / f;
  return Math.sign(x) * (1 - Math.exp(-a * a) / Math.sqrt(Math.PI) / f);
};

const UNARY: Record<Exclude<UnaryOp, "not">, (x: number) => number> = {
  neg: (x) => -x,
  abs: Math.abs,
  sign: Math.sign,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  rsqrt: (x) => 1 / Math.sqrt(x),
  reciprocal: (x) => 1 / x,
  tanh: Math.tanh,
  erf,
  sin: Math.sin,
  cos: Math.cos,
  relu: (x) => Math.max(x, 0),
  sigmoid: (x) => 1 / (1 + Math.exp(-x)),
  silu: (x) => x / (1 + Math.exp(-x)),
  gelu: (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)),
  gelu_tanh: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
  floor: Math.floor,
};

const BINARY: Record<BinaryOp, (a: number, b: number) => number> = {
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  pow: Math.pow,
  maximum: Math.max,
  minimum: Math.min,
  eq: (a, b) => +(a === b),
  ne: (a, b) => +(a !== b),
  lt: (a, b) => +(a < b),
  le: (a, b) => +(a <= b),
  gt: (a, b) => +(a > b),
  ge: (a, b) => +(a >= b),
  and: (a, b) => +(a !== 0 && b !== 0),
  or: (a, b) => +(a !== 0 || b !== 0),
};

describe.skipIf(!backend)("webgpu elementwise kernels", () => {
  const b = backend!;
  const base = randomArray(2 * 3 * 4, 7);
  const buf = b.upload(base, "float32");
  const x = whole(buf, base, [2, 3, 4]);
  const views: [string, ViewPair][] = [
    ["contiguous", x],
    ["transposed", transpose(x, 0, 2)],
    ["flipped", flip(x, 1)],
    ["broadcast", broadcast(narrow(x, 0, 1, 1), 1, 3)],
    ["narrowed with offset", narrow(narrow(x, 2, 1, 2), 1, 1, 2)],
  ];

  it.each(views)("copy materialises a %s view", async (_, v) => {
    const out = b.copy(v.gpu);
    expect(Array.from(await b.read(out))).toEqual(materialize(v.host));
    b.dispose(out);
  });

  it.each(Object.keys(UNARY) as Exclude<UnaryOp, "not">[])("unary %s on float32 matches Math within 2e-6", async (op) => {
    const domain = ["log", "sqrt", "rsqrt"].includes(op) ? randomArray(64, 3, 0.01, 20) : randomArray(64, 3, -8, 8);
    const vals = Float32Array.from([...domain, 0, -0, 1, -1, 30, -30, 0.5, -0.5, 1e-4, 3000.5]);
    const v = transpose(whole(b.upload(vals, "float32"), vals, [vals.length / 2, 2]), 0, 1);
    const out = b.unary(op, v.gpu);
    const expected = Float32Array.from(materialize(v.host), UNARY[op]);
    expectClose(await b.read(out), expected, 2e-6, `unary ${op}`);
  });

  it("unary keeps NaN for relu, sign, and handles special values", async () => {
    const vals = new Float32Array([NaN, 0, -1, Infinity, -Infinity]);
    const v = whole(b.upload(vals, "float32"), vals, [5]);
    expect(Array.from(await b.read(b.unary("relu", v.gpu)))).toEqual([NaN, 0, 0, Infinity, 0]);
    expect(Array.from(await b.read(b.unary("log", v.gpu))).slice(1, 3)).toEqual([-Infinity, NaN]);
    expect(Array.from(await b.read(b.unary("exp", v.gpu))).slice(3)).toEqual([Infinity, 0]);
    expect(Array.from(await b.read(b.unary("sigmoid", v.gpu))).slice(3)).toEqual([1, 0]);
    expect(Array.from(await b.read(b.unary("tanh", v.gpu))).slice(3)).toEqual([1, -1]);
  });

  it("unary on int32 and bool", async () => {
    const vals = new Int32Array([-3, 0, 5, -2147483647]);
    const v = whole(b.upload(vals, "int32"), vals, [4]).gpu;
    expect(Array.from(await b.read(b.unary("neg", v)))).toEqual([3, 0, -5, 2147483647]);
    expect(Array.from(await b.read(b.unary("abs", v)))).toEqual([3, 0, 5, 2147483647]);
    expect(Array.from(await b.read(b.unary("relu", v)))).toEqual([0, 0, 5, 0]);
    expect(Array.from(await b.read(b.unary("sign", v)))).toEqual([-1, 0, 1, -1]);
    expect(Array.from(await b.read(b.unary("sqrt", v))).slice(1, 3)).toEqual([0, 2]);
    const bools = new Uint8Array([1, 0, 1]);
    const bv = whole(b.upload(bools, "bool"), bools, [3]).gpu;
    expect(Array.from(await b.read(b.unary("not", bv)))).toEqual([0, 1, 0]);
  });

  it("unary on float16 and bfloat16 computes in f32 and rounds back to nearest even", async () => {
    const vals = randomArray(32, 11, -4, 4);
    for (const dtype of ["float16", "bfloat16"] as const) {
      const enc = dtype === "float16" ? float32ToFloat16Bits : float32ToBfloat16Bits;
      const h = b.upload(vals, dtype);
      const decoded = await b.read(b.cast(whole(h, vals, [32]).gpu, "float32"));
      const out = await b.read(b.unary("exp", whole(h, vals, [32]).gpu));
      const expected = Array.from(decoded, (v) => enc(Math.fround(Math.exp(v))));
      // f32 exp may differ from Math.exp in the last f32 bit, which can move a half by one ulp.
      Array.from(out).forEach((bits, i) => expect(Math.abs(bits - expected[i]!)).toBeLessThanOrEqual(1));
    }
  });

  it.each(Object.keys(BINARY) as BinaryOp[])("binary %s on float32 with broadcasting and transposes", async (op) => {
    const av = randomArray(12, 5, -3, 3).map((v, i) => (i % 4 === 0 ? Math.round(v) : v));
    const bv = randomArray(4, 9, -3, 3).map((v, i) => (i === 1 ? Math.round(v) : v));
    if (op === "pow") av[0] = -2; // negative base with an integer exponent
    const a = transpose(whole(b.upload(av, "float32"), av, [4, 3]), 0, 1); // [3, 4]
    const bb = broadcast(whole(b.upload(bv, "float32"), bv, [4]), 0, 3); // [3, 4], stride 0 rows
    const out = await b.read(b.binary(op, a.gpu, bb.gpu));
    const A = materialize(a.host);
    const B = materialize(bb.host);
    const expected = A.map((v, i) => BINARY[op](Math.fround(v), Math.fround(B[i]!)));
    if (op === "pow") expected[0] = (-2) ** Math.fround(B[0]!);
    expectClose(out, expected, op === "pow" ? 1e-5 : 1e-6, `binary ${op}`);
  });

  it("binary on int32 wraps, truncates division, and divides by zero to 0", async () => {
    const av = new Int32Array([7, -7, 2147483647, 5, 2, 3]);
    const bv = new Int32Array([2, 2, 2, 0, 10, -1]);
    const a = whole(b.upload(av, "int32"), av, [6]).gpu;
    const c = whole(b.upload(bv, "int32"), bv, [6]).gpu;
    expect(Array.from(await b.read(b.binary("div", a, c)))).toEqual([3, -3, 1073741823, 0, 0, -3]);
    expect(Array.from(await b.read(b.binary("mul", a, c)))).toEqual([14, -14, -2, 0, 20, -3]);
    expect(Array.from(await b.read(b.binary("pow", a, c)))).toEqual([49, 49, 1, 1, 1024, 0]);
    expect(Array.from(await b.read(b.binary("maximum", a, c)))).toEqual([7, 2, 2147483647, 5, 10, 3]);
    expect(Array.from(await b.read(b.binary("ge", a, c)))).toEqual([1, 0, 1, 1, 0, 1]);
  });

  it("maximum and minimum propagate NaN", async () => {
    const av = new Float32Array([NaN, 1, 2]);
    const bv = new Float32Array([1, NaN, 3]);
    const a = whole(b.upload(av, "float32"), av, [3]).gpu;
    const c = whole(b.upload(bv, "float32"), bv, [3]).gpu;
    expect(Array.from(await b.read(b.binary("maximum", a, c)))).toEqual([NaN, NaN, 3]);
    expect(Array.from(await b.read(b.binary("minimum", a, c)))).toEqual([NaN, NaN, 2]);
  });

  it("and/or/eq on bool", async () => {
    const av = new Uint8Array([0, 0, 1, 1]);
    const bv = new Uint8Array([0, 1, 0, 1]);
    const a = whole(b.upload(av, "bool"), av, [4]).gpu;
    const c = whole(b.upload(bv, "bool"), bv, [4]).gpu;
    expect(Array.from(await b.read(b.binary("and", a, c)))).toEqual([0, 0, 0, 1]);
    expect(Array.from(await b.read(b.binary("or", a, c)))).toEqual([0, 1, 1, 1]);
    expect(Array.from(await b.read(b.binary("eq", a, c)))).toEqual([1, 0, 0, 1]);
  });

  it("where selects raw elements (halves keep their bits) under a broadcast condition", async () => {
    const cond = new Uint8Array([1, 0, 1]);
    const c = broadcast(whole(b.upload(cond, "bool"), cond, [3]), 0, 2);
    const av = new Uint16Array([1, 2, 3, 4, 5, 6]);
    const bv = new Uint16Array([0x7e00]);
    const a = whole(b.upload(av, "float16"), av, [2, 3]);
    const bb = broadcast(broadcast(whole(b.upload(bv, "float16"), bv, [1]), 0, 2), 1, 1);
    const out = b.where(c.gpu, a.gpu, { ...bb.gpu, shape: [2, 3], strides: [0, 0] });
    expect(Array.from(await b.read(out))).toEqual([1, 0x7e00, 3, 4, 0x7e00, 6]);
  });

  it("cast converts between every pair of dtypes like the CPU backend", async () => {
    const vals = new Float32Array([1.5, -2.7, 0, 65504, 70000, 1e-6, NaN, -0.5]);
    const f = whole(b.upload(vals, "float32"), vals, [8]).gpu;
    expect(Array.from(await b.read(b.cast(f, "int32")))).toEqual([1, -2, 0, 65504, 70000, 0, 0, 0]);
    expect(Array.from(await b.read(b.cast(f, "bool")))).toEqual([1, 1, 0, 1, 1, 1, 1, 1]);
    expect(Array.from(await b.read(b.cast(f, "float16")))).toEqual(Array.from(vals, float32ToFloat16Bits));
    expect(Array.from(await b.read(b.cast(f, "bfloat16")))).toEqual(Array.from(vals, float32ToBfloat16Bits));
    // Exhaustive-ish: many random values and all half ties agree with the host rounding.
    const many = Float32Array.from({ length: 4096 }, (_, i) =>
      i < 2048 ? randomArray(1, i + 1, -70000, 70000)[0]! : (1 + (i - 2048) / 2048) * 2 ** ((i % 40) - 26),
    );
    const m = whole(b.upload(many, "float32"), many, [many.length]).gpu;
    expect(Array.from(await b.read(b.cast(m, "float16")))).toEqual(Array.from(many, float32ToFloat16Bits));
    expect(Array.from(await b.read(b.cast(m, "bfloat16")))).toEqual(Array.from(many, float32ToBfloat16Bits));
    const halves = b.cast(m, "float16");
    const back = await b.read(b.cast({ buffer: halves, shape: [many.length], strides: [1], offset: 0 }, "float32"));
    const bf = b.cast(m, "bfloat16");
    const bfBack = await b.read(b.cast({ buffer: bf, shape: [many.length], strides: [1], offset: 0 }, "float32"));
    for (let i = 0; i < many.length; i++) {
      if (Math.abs(many[i]!) < 65504) expect(Math.abs(back[i]! - many[i]!)).toBeLessThanOrEqual(Math.abs(many[i]!) * 2 ** -11 + 2 ** -25);
      expect(Math.abs(bfBack[i]! - many[i]!)).toBeLessThanOrEqual(Math.abs(many[i]!) * 2 ** -8);
    }
    const ints = new Int32Array([3, -4, 0]);
    const iv = whole(b.upload(ints, "int32"), ints, [3]).gpu;
    expect(Array.from(await b.read(b.cast(iv, "float32")))).toEqual([3, -4, 0]);
    expect(Array.from(await b.read(b.cast(iv, "bool")))).toEqual([1, 1, 0]);
    const bools = new Uint8Array([1, 0]);
    const bl = whole(b.upload(bools, "bool"), bools, [2]).gpu;
    expect(Array.from(await b.read(b.cast(bl, "float32")))).toEqual([1, 0]);
    expect(Array.from(await b.read(b.cast(bl, "int32")))).toEqual([1, 0]);
    expect(Array.from(await b.read(b.cast(bl, "bfloat16")))).toEqual([0x3f80, 0]);
  });

  it("concat joins strided views along an inner axis", async () => {
    const av = randomArray(6, 1);
    const bv = randomArray(6, 2);
    const a = whole(b.upload(av, "float32"), av, [2, 3]); // [2, 3]
    const c = transpose(whole(b.upload(bv, "float32"), bv, [3, 2]), 0, 1); // [2, 3] transposed
    const out = await b.read(b.concat([a.gpu, c.gpu, narrow(a, 1, 2, 1).gpu], 1));
    const A = materialize(a.host);
    const C = materialize(c.host);
    const expected = [0, 1].flatMap((r) => [...A.slice(r * 3, r * 3 + 3), ...C.slice(r * 3, r * 3 + 3), A[r * 3 + 2]!]);
    expectClose(out, expected, 0);
  });

  it("handles more elements than one dispatch dimension allows (2-D grid)", async () => {
    const n = 65535 * 256 + 1000;
    const out = b.fill(n, 2, "float32");
    const y = b.unary("neg", { buffer: out, shape: [n], strides: [1], offset: 0 });
    const r = await b.read(y);
    expect(r[0]).toBe(-2);
    expect(r[n - 1]).toBe(-2);
    b.dispose(out);
    b.dispose(y);
  });
});
