import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend, DTypeError, Rng, causalMask, scaledDotProductAttention, tensor, writeInto, type Tensor } from "../src/index.js";
import { float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/cpu/half.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
import { residentStats } from "../src/cpu/resident/runtime.js";

// Attention over float16 keys and values (a float16 KV cache): the decode kernel reads the halves
// as stored and must give the float32 kernel's result over their float32 values, bit for bit, on
// any thread count, with relaxed SIMD or without; everything else widens them first. And the
// cache's writes: float32 rounded into float16 / bfloat16 exactly as cast rounds.

const relaxed = hasRelaxedSimd();
const backends = [
  ...[1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false })),
  ...(relaxed ? [1, 2].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: true })) : []),
];
afterAll(() => {
  for (const b of backends) b.close();
});

const rng = new Rng(11);
const normals = (n: number, scale = 1) => Array.from({ length: n }, () => rng.normal() * scale);

/** Every float16 value class: zeros, subnormals, the smallest and largest normals, infinities, NaN. */
const SPECIAL_HALVES = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0200];

const FINITE_HALVES = SPECIAL_HALVES.filter((bits) => (bits & 0x7c00) !== 0x7c00);

/** Runs fn and counts the calls of the resident kernel `name`. */
function calls<R>(name: string, fn: () => R): { result: R; calls: number } {
  const before = residentStats.calls.get(name) ?? 0;
  const result = fn();
  return { result, calls: (residentStats.calls.get(name) ?? 0) - before };
}

const sameBits = (got: Float32Array, want: Float32Array, what: string) => {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i]))
      expect.fail(`${what}, element ${i}: float16 kernel ${got[i]}, float32 over the same values ${want[i]}`);
  }
};

interface Case {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  masked?: boolean;
  bias?: boolean;
}

const CASES: Case[] = [
  { B: 1, H: 12, Hkv: 12, T: 1, S: 150, D: 64 },
  { B: 2, H: 8, Hkv: 2, T: 1, S: 77, D: 13 },
  { B: 1, H: 6, Hkv: 3, T: 3, S: 40, D: 20, masked: true },
  { B: 1, H: 3, Hkv: 1, T: 1, S: 9, D: 3, bias: true },
  { B: 1, H: 2, Hkv: 2, T: 5, S: 33, D: 4, masked: true, bias: true },
  { B: 1, H: 5, Hkv: 5, T: 1, S: 1, D: 1 },
  { B: 1, H: 4, Hkv: 2, T: 1, S: 64, D: 128 },
  { B: 1, H: 2, Hkv: 1, T: 20, S: 33, D: 12, masked: true },
];

function operands(backend: CpuBackend, c: Case): { q: Tensor; k16: Tensor; v16: Tensor; mask: Tensor | null; bias: Tensor | null } {
  const q = tensor(normals(c.B * c.H * c.T * c.D, 3), { shape: [c.B, c.H, c.T, c.D], backend });
  const k16 = tensor(normals(c.B * c.Hkv * c.S * c.D, 2), { shape: [c.B, c.Hkv, c.S, c.D], backend }).cast("float16");
  const v16 = tensor(normals(c.B * c.Hkv * c.S * c.D), { shape: [c.B, c.Hkv, c.S, c.D], backend }).cast("float16");
  const mask = c.masked ? causalMask(c.T, c.S, backend) : null;
  const bias = c.bias ? tensor(normals(c.T * c.S), { shape: [1, 1, c.T, c.S], backend }) : null;
  return { q, k16, v16, mask, bias };
}

describe("attention over float16 keys and values", () => {
  for (const c of CASES) {
    const name = `B${c.B} H${c.H} Hkv${c.Hkv} T${c.T} S${c.S} D${c.D}${c.masked ? " masked" : ""}${c.bias ? " bias" : ""}`;
    it(`${name}: the float32 result over the halves' values, bit for bit, on every backend`, () => {
      for (const backend of backends) {
        const { q, k16, v16, mask, bias } = operands(backend, c);
        const kernel = c.T < 16 ? "attention_f16" : "attention_blocks";
        const half = calls(kernel, () => scaledDotProductAttention(q, k16, v16, { mask, bias }).dataSync() as Float32Array);
        expect(half.calls, `${name}: ${kernel} ran`).toBeGreaterThan(0);
        const widened = scaledDotProductAttention(q, k16.float(), v16.float(), { mask, bias }).dataSync() as Float32Array;
        sameBits(half.result, widened, `${name}, ${backend.threads} threads, relaxed ${backend.relaxedSimd}`);
      }
    });
  }

  it("every float16 value class (zeros, subnormals, extremes, infinities, NaN) in keys and in values", () => {
    const [D, S] = [13, SPECIAL_HALVES.length];
    for (const backend of backends) {
      const q = tensor(normals(2 * D), { shape: [1, 2, 1, D], backend });
      // keys: each special once in a row of otherwise normal halves (a key with Infinity scores NaN or Infinity);
      // values: odd rows cycle through every class (the kernel's exact path), even rows through the
      // finite ones (its fast path: zeros, subnormals, extremes), so every lane meets every class
      const keyBits = new Uint16Array(S * D);
      const valueBits = new Uint16Array(S * D);
      for (let s = 0; s < S; s++) {
        for (let d = 0; d < D; d++) {
          keyBits[s * D + d] = float32ToFloat16Bits(rng.normal() * 0.1);
          valueBits[s * D + d] = s % 2 === 1 ? SPECIAL_HALVES[(s + d) % S]! : FINITE_HALVES[(s + d) % FINITE_HALVES.length]!;
        }
        keyBits[s * D + (s % D)] = SPECIAL_HALVES[s]!;
      }
      // finite keys beside them, so some rows' softmax stays finite and the values' classes reach the output
      const finiteKeys = keyBits.map((b) => ((b & 0x7c00) === 0x7c00 ? 0x3c00 : b));
      for (const bits of [keyBits, finiteKeys]) {
        const k16 = tensor(bits, { shape: [1, 1, S, D], dtype: "float16", backend });
        const v16 = tensor(valueBits, { shape: [1, 1, S, D], dtype: "float16", backend });
        const half = scaledDotProductAttention(q, k16, v16).dataSync() as Float32Array;
        const widened = scaledDotProductAttention(q, k16.float(), v16.float()).dataSync() as Float32Array;
        sameBits(half, widened, `specials, ${backend.threads} threads, relaxed ${backend.relaxedSimd}`);
      }
      // the halves' float32 values themselves, through a value row picked out by a one-hot softmax
      const onehotQ = tensor(new Float32Array(D).fill(0), { shape: [1, 1, 1, D], backend });
      const oneKey = tensor(new Uint16Array(D).fill(0), { shape: [1, 1, 1, D], dtype: "float16", backend });
      for (let s = 0; s < S; s++) {
        const row = tensor(valueBits.subarray(s * D, s * D + D), { shape: [1, 1, 1, D], dtype: "float16", backend });
        const out = scaledDotProductAttention(onehotQ, oneKey, row).dataSync() as Float32Array;
        // (the output starts at 0 and adds 1 x the value: -0 comes out as +0, as in the float32 kernel)
        for (let d = 0; d < D; d++) expect(out[d]).toBe(0 + float16BitsToFloat32(valueBits[s * D + d]!));
      }
    }
  });

  it("bfloat16, and keys and values of two dtypes, are widened: the same result as over float32", () => {
    const backend = backends[0]!;
    const c = CASES[1]!;
    const { q, k16, v16 } = operands(backend, c);
    const kb = k16.float().cast("bfloat16");
    const want = scaledDotProductAttention(q, kb.float(), v16.float()).dataSync() as Float32Array;
    sameBits(scaledDotProductAttention(q, kb, v16).dataSync() as Float32Array, want, "bfloat16 keys, float16 values");
    const want32 = scaledDotProductAttention(q, k16.float(), v16.float()).dataSync() as Float32Array;
    sameBits(scaledDotProductAttention(q, k16, v16.float()).dataSync() as Float32Array, want32, "float16 keys, float32 values");
  });

  it("a query that needs a gradient: the gradient over float16 keys and values is the one over their float32 values", () => {
    const backend = backends[0]!;
    const c = CASES[2]!;
    const { k16, v16, mask } = operands(backend, c);
    const qData = normals(c.B * c.H * c.T * c.D);
    const grad = (k: Tensor, v: Tensor) => {
      const q = tensor(qData, { shape: [c.B, c.H, c.T, c.D], backend, requiresGrad: true });
      scaledDotProductAttention(q, k, v, { mask }).square().sum().backward();
      return q.grad!.dataSync() as Float32Array;
    };
    sameBits(grad(k16, v16), grad(k16.float(), v16.float()), "dq");
  });

  it("keys must be float32 or half; q must be float32", () => {
    const backend = backends[0]!;
    const { q, k16, v16 } = operands(backend, CASES[3]!);
    expect(() => scaledDotProductAttention(q.cast("float16"), k16, v16)).toThrow(DTypeError);
    expect(() => scaledDotProductAttention(q, k16.cast("int32"), v16)).toThrow(/k must be float32/);
  });
});

describe("in ggml's numerics, attention over a float16 cache rounds the query and the weights to float16 (llama.cpp's products)", () => {
  const round16 = (x: number) => float16BitsToFloat32(float32ToFloat16Bits(x));
  /** Attention in float64 over rounded operands: the query (and the weights) rounded to float16 when `rounded`. */
  function reference(
    q: Float32Array,
    k: Float32Array,
    v: Float32Array,
    [H, T, S, D]: number[],
    causal: boolean,
    rounded: boolean,
  ): Float64Array {
    const out = new Float64Array(H * T * D);
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++) {
        const qs = q.subarray((h * T + t) * D, (h * T + t + 1) * D).map((x) => (rounded ? round16(x) : x));
        const scores = Array.from({ length: S }, (_, j) => {
          if (causal && j > t + S - T) return Number.NEGATIVE_INFINITY;
          let dot = 0;
          for (let d = 0; d < D; d++) dot += qs[d]! * k[(h * S + j) * D + d]!;
          return dot / Math.sqrt(D);
        });
        const max = Math.max(...scores);
        const e = scores.map((x) => Math.exp(x - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let j = 0; j < S; j++) {
          const p = rounded ? round16(e[j]! / sum) : e[j]! / sum;
          for (let d = 0; d < D; d++) out[(h * T + t) * D + d]! += p * v[(h * S + j) * D + d]!;
        }
      }
    }
    return out;
  }

  for (const T of [1, 20]) {
    it(`${T === 1 ? "decoding" : "a prompt"} (T ${T}): the row kernel and the JS path (no WebAssembly) both land on the rounded reference`, () => {
      const [H, S, D] = [3, 40, 24];
      const ggml = new CpuBackend({ threads: 1, activationRounding: "ggml" });
      const ggmlJs = new CpuBackend({ threads: 1, activationRounding: "ggml", wasm: false });
      try {
        const qData = Float32Array.from(normals(H * T * D, 2));
        const k16 = tensor(normals(H * S * D, 2), { shape: [1, H, S, D], backend: ggml }).cast("float16");
        const v16 = tensor(normals(H * S * D), { shape: [1, H, S, D], backend: ggml }).cast("float16");
        const [k, v] = [k16.float().dataSync() as Float32Array, v16.float().dataSync() as Float32Array];
        const mask = T > 1 ? causalMask(T, S, ggml) : null;
        const rounded = reference(qData, k, v, [H, T, S, D], T > 1, true);
        const plain = reference(qData, k, v, [H, T, S, D], T > 1, false);
        for (const backend of [ggml, ggmlJs]) {
          const q = tensor(qData, { shape: [1, H, T, D], backend });
          const onBackend = (t: Tensor) => tensor(t.dataSync(), { shape: t.shape, dtype: t.dtype, backend });
          // decoding on the row kernel (attention_f16, rounding both); a prompt on the block kernel (over the
          // widened values, the query rounded first, the kernel rounding the weights)
          const kernel = T === 1 ? "attention_f16" : "attention_blocks";
          const run = calls(
            kernel,
            () =>
              scaledDotProductAttention(q, onBackend(k16), onBackend(v16), { mask: mask && onBackend(mask) }).dataSync() as Float32Array,
          );
          if (backend.wasm) expect(run.calls, kernel).toBeGreaterThan(0);
          const got = run.result;
          let [toRounded, toPlain] = [0, 0];
          for (let i = 0; i < got.length; i++) {
            toRounded = Math.max(toRounded, Math.abs(got[i]! - rounded[i]!));
            toPlain = Math.max(toPlain, Math.abs(got[i]! - plain[i]!));
          }
          console.log(
            `ggml attention T ${T}, wasm ${backend.wasm}: ${toRounded.toExponential(2)} from the rounded reference, ${toPlain.toExponential(2)} from the plain one`,
          );
          // float32 sums against float64 ones (a weight that float32 put on the other side of a float16 rounding boundary would cost ~1e-3; none does here)
          expect(toRounded, `wasm ${backend.wasm}`).toBeLessThan(1e-4);
          expect(toRounded, `wasm ${backend.wasm}: nearer the rounded reference than the plain one`).toBeLessThan(toPlain / 4);
        }
      } finally {
        ggml.close();
        ggmlJs.close();
      }
    });
  }
});

describe("writeInto rounds float32 into float16 and bfloat16 as cast does", () => {
  // values at every rounding case: ties to even, subnormals, overflow to infinity, NaN, signed zeros
  const values = [
    ...normals(300, 3),
    ...normals(50, 1e-5),
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
    65504,
    65519.99,
    65520,
    1e6,
    -1e6,
    2 ** -25,
    2 ** -24 * 1.5,
    2 ** -14 - 2 ** -25,
    5.9604644775390625e-8,
    0,
    -0,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
    Number.NaN,
    1 + 2 ** -8,
    1 + 3 * 2 ** -8,
    3.4e38,
  ];
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype}: every value, into a strided slice of a larger buffer`, () => {
      const backend = backends[1]!;
      const n = values.length;
      const src = tensor(values, { shape: [n, 1], backend });
      const buffer = tensor(new Uint16Array(3 * n).fill(0x1234), { shape: [n, 3], dtype, backend });
      const dst = buffer.narrow(1, 1, 1);
      expect(writeInto(dst, src)).toBe(true);
      const bits = buffer.dataSync() as Uint16Array;
      const toBits = dtype === "float16" ? float32ToFloat16Bits : float32ToBfloat16Bits;
      for (let i = 0; i < n; i++) {
        expect(bits[3 * i + 1], `value ${values[i]}`).toBe(toBits(values[i]!));
        expect(bits[3 * i]).toBe(0x1234);
        expect(bits[3 * i + 2]).toBe(0x1234);
      }
      expect(Array.from(bits.filter((_, i) => i % 3 === 1))).toEqual(Array.from(src.cast(dtype).dataSync() as Uint16Array));
    });
  }

  it("any other pair of dtypes is an error naming both", () => {
    const backend = backends[0]!;
    const dst = tensor(new Uint16Array(4), { shape: [4], dtype: "float16", backend });
    expect(() => writeInto(dst, tensor([1, 2, 3, 4], { dtype: "int32", backend }))).toThrow(/dst is float16 but src is int32/);
    const f32 = tensor([1, 2, 3, 4], { backend });
    expect(() => writeInto(f32, dst)).toThrow(DTypeError);
  });
});
