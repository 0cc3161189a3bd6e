import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { geluTable, ggmlGelu } from "../src/cpu/kernels/ggml_rounding.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { float32ToFloat16Bits } from "../src/cpu/half.js";
import { emitModule } from "../src/cpu/wasm/encoder.js";
import { GGML_GELU_VARIANTS, ggmlGeluFunction } from "../src/cpu/wasm/ggml_gelu_module.js";
import { rng } from "./cpu-helpers.js";

// ggml's GELU with activationRounding "ggml" runs in WebAssembly (wasm/ggml_gelu_module.ts: the
// input rounded to float16 in SIMD lanes, the table resident in the heap). It must give
// ggmlGelu's bits (the JS function llama.cpp comparisons were built on) for every float32 input:
// each float16 value widened, its float32 neighbours, every halfway point between two float16
// values (ties round to even) and its neighbours, the ±10 cut-offs, float32 subnormals, overflow,
// infinities, NaNs of any sign and payload, and random bit patterns; on 1, 2 and 3 threads.
// minWorkPerThread 0 splits even the smallest calls.

const ggml = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, activationRounding: "ggml" }));
const jsOnly = new CpuBackend({ wasm: false, activationRounding: "ggml" });
afterAll(() => {
  for (const be of ggml) be.close();
});

/** The slice of the WebAssembly JS API this test uses (the compile target's lib declares none). */
const wasm = (
  globalThis as unknown as {
    WebAssembly: {
      Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
      Module: new (bytes: Uint8Array) => object;
      Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
    };
  }
).WebAssembly;

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
function bitsOf(v: number): number {
  f32[0] = v;
  return u32[0]!;
}
function floatOf(bits: number): number {
  u32[0] = bits;
  return f32[0]!;
}

/** float16 bits -> float32 bits, exactly (NaN payloads shifted up, as hardware widens them). */
function widen(h: number): number {
  const sign = (h & 0x8000) << 16;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0x1f) return (sign | 0x7f800000 | (mant << 13)) >>> 0;
  if (exp === 0) return (sign | bitsOf(mant * 2 ** -24)) >>> 0;
  return (sign | ((exp + 112) << 23) | (mant << 13)) >>> 0;
}

/** Each pattern with the next float32 on either side (bits ± 1, wrapping into NaNs at the ends). */
function withNeighbours(patterns: number[]): number[] {
  return patterns.flatMap((b) => [b, (b + 1) >>> 0, (b - 1) >>> 0]);
}

/** Every float16 value widened; the point halfway to the next float16 of larger magnitude (a tie). */
function halfPatterns(): { values: number[]; ties: number[] } {
  const values: number[] = [];
  const ties: number[] = [];
  for (let h = 0; h < 65536; h++) {
    values.push(widen(h));
    if ((h & 0x7fff) < 0x7c00) {
      // halfway between two neighbouring float16 values has 12 significant bits: exact in float32
      ties.push(bitsOf((floatOf(widen(h)) + floatOf(widen(h + 1))) / 2));
    }
  }
  return { values, ties };
}

const special = [
  0,
  -0,
  10,
  -10,
  9.999,
  -9.999,
  9.998046875,
  -9.998046875,
  9.9990234375,
  -9.9990234375,
  10.000001,
  -10.000001,
  65504,
  -65504,
  65519.99,
  65520,
  -65520,
  1e6,
  -1e6,
  3e38,
  -3e38,
  Infinity,
  -Infinity,
  2 ** -14,
  -(2 ** -14),
  2 ** -24,
  2 ** -25,
  -(2 ** -25),
  3 * 2 ** -26,
  2 ** -25 + 2 ** -40,
  1e-30,
  -1e-30,
  1e-45,
  -1e-45,
  1.1754942e-38,
  -1.1754942e-38,
  1.17549435e-38,
  0.5,
  -0.5,
  Math.fround(Math.PI),
  -Math.fround(Math.E),
].map(bitsOf);
const nans = [0x7fc00000, 0xffc00000, 0x7f800001, 0xff800001, 0x7fffffff, 0xffffffff, 0x7fa00000, 0x7fc01234, 0xffbfffff];

/** Random bit patterns (every magnitude, NaNs among them) and values spread like activations. */
function randomPatterns(n: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push(Math.floor(r() * 2 ** 32) >>> 0);
  for (let i = 0; i < n; i++) out.push(bitsOf((r() - 0.5) * 2 ** (r() * 12 - 6) * 8));
  return out;
}

function run(
  be: CpuBackend,
  x: Float32Array,
  shape: number[] = [x.length],
  strides?: number[],
  offset = 0,
  op: "gelu" | "gelu_tanh" = "gelu_tanh",
): Uint32Array {
  const s = strides ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const v: StridedView = { buffer: be.upload(x, "float32"), shape, strides: s, offset };
  const out = be.readSync(be.unary(op, v)) as Float32Array;
  return new Uint32Array(out.buffer, out.byteOffset, out.length);
}

/** Which resident kernels fn called (by name, with counts), and how many parts worker threads took. */
function traced<T>(fn: () => T): { value: T; calls: Record<string, number>; workerParts: number; fallbacks: Record<string, number> } {
  const calls = new Map(residentStats.calls);
  const fallbacks = new Map(residentStats.fallbacks);
  const workerParts = residentStats.workerParts;
  const value = fn();
  const diff = (now: Map<string, number>, then: Map<string, number>) =>
    Object.fromEntries([...now].filter(([k, n]) => n !== (then.get(k) ?? 0)).map(([k, n]) => [k, n - (then.get(k) ?? 0)]));
  return {
    value,
    calls: diff(residentStats.calls, calls),
    workerParts: residentStats.workerParts - workerParts,
    fallbacks: diff(residentStats.fallbacks, fallbacks),
  };
}

/** The first index where two bit arrays differ, described, or null. */
function firstDifference(x: Uint32Array, got: Uint32Array, want: Uint32Array): string | null {
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) {
      const hex = (b: number) => `0x${b.toString(16).padStart(8, "0")}`;
      return `x ${hex(x[i]!)} (${new Float32Array(x.buffer)[i]}): got ${hex(got[i]!)}, want ${hex(want[i]!)}`;
    }
  }
  return null;
}

function expectSameBits(name: string, patterns: number[]): void {
  const bits = Uint32Array.from(patterns);
  const x = new Float32Array(bits.buffer);
  const js = ggmlGelu(x);
  const want = new Uint32Array(js.buffer);
  for (const [i, be] of ggml.entries()) {
    const { value, calls, fallbacks } = traced(() => run(be, x));
    expect(calls, `${name}, ${i + 1} threads: the resident kernel ran`).toEqual({ ggml_gelu: 1 });
    expect(fallbacks, `${name}, ${i + 1} threads`).toEqual({});
    expect(firstDifference(bits, value, want), `${name}, ${i + 1} threads`).toBeNull();
  }
}

describe("ggml GELU on the resident kernel: ggmlGelu's bits", () => {
  const { values, ties } = halfPatterns();

  it("every float16 value widened to float32, and its float32 neighbours", () => {
    expectSameBits("float16 values", withNeighbours(values));
  });

  it("every halfway point between float16 values (ties to even), and its neighbours", () => {
    expect(ties.length).toBe(2 * 0x7c00);
    expectSameBits("ties", withNeighbours(ties));
  });

  it("the ±10 cut-offs, float16 overflow, float32 subnormals, infinities, ±0 and NaNs of every kind", () => {
    expectSameBits("specials", withNeighbours([...special, ...nans]));
    // NaN in: the canonical quiet NaN out, whatever the sign or payload (ggmlGelu's table holds it)
    const nan = run(ggml[0]!, new Float32Array(Uint32Array.from(nans).buffer));
    expect([...nan]).toEqual(nans.map(() => 0x7fc00000));
    // -0 keeps its sign, -10 and below give +0, 10 and above x itself
    const edges = run(ggml[0]!, Float32Array.from([-0, -10, -1e30, -Infinity, 10, 1e30, Infinity]));
    expect([...edges]).toEqual([0x80000000, 0, 0, 0, bitsOf(10), bitsOf(1e30), 0x7f800000]);
  });

  it("random bit patterns and activation-like values, at lengths that leave partial vectors", () => {
    const patterns = randomPatterns(200_000, 15);
    expectSameBits("random", patterns);
    for (const n of [1, 2, 3, 5, 15, 17, 33, 3072, 3075]) expectSameBits(`random, length ${n}`, patterns.slice(1000, 1000 + n));
  });

  it("splits over worker threads, and a view at an offset stays on the kernel", () => {
    const x = new Float32Array(Uint32Array.from(randomPatterns(100_000, 16)).buffer);
    const want = new Uint32Array(ggmlGelu(x.subarray(7, 7 + 4096)).buffer);
    for (const be of ggml) {
      const t = traced(() => run(be, x, [64, 64], [64, 1], 7));
      expect(t.calls).toEqual({ ggml_gelu: 1 });
      expect(firstDifference(new Uint32Array(x.buffer, 28, 4096), t.value, want)).toBeNull();
    }
    // worker threads take parts (a call this short may finish before a sleeping worker wakes: a few tries)
    const wantAll = new Uint32Array(ggmlGelu(x).buffer);
    let workerParts = 0;
    for (let round = 0; round < 20 && workerParts === 0; round++) {
      for (const be of ggml.slice(1)) {
        const t = traced(() => run(be, x));
        expect(firstDifference(new Uint32Array(x.buffer), t.value, wantAll)).toBeNull();
        workerParts += t.workerParts;
      }
    }
    expect(workerParts).toBeGreaterThan(0);
  });

  it("exact GELU takes the same table (llama.cpp uses it for every GELU model)", () => {
    const x = new Float32Array(Uint32Array.from(randomPatterns(3000, 19)).buffer);
    const t = traced(() => run(ggml[2]!, x, [x.length], undefined, 0, "gelu"));
    expect(t.calls).toEqual({ ggml_gelu: 1 });
    expect(firstDifference(new Uint32Array(x.buffer), t.value, new Uint32Array(ggmlGelu(x).buffer))).toBeNull();
  });

  it("a strided view and a backend without WebAssembly take ggmlGelu itself, the same bits", () => {
    const x = new Float32Array(Uint32Array.from(randomPatterns(2000, 17)).buffer);
    const strided = traced(() => run(ggml[1]!, x, [40, 50], [1, 40]));
    expect(strided.calls).toEqual({});
    expect(strided.fallbacks).toEqual({ "gelu (ggml)": 1 });
    const transposed = new Float32Array(2000);
    for (let i = 0; i < 40; i++) for (let j = 0; j < 50; j++) transposed[i * 50 + j] = x[j * 40 + i]!;
    const want = new Uint32Array(ggmlGelu(transposed).buffer);
    expect(firstDifference(new Uint32Array(transposed.buffer), strided.value, want)).toBeNull();
    const plain = traced(() => run(jsOnly, x));
    expect(plain.calls).toEqual({});
    expect(firstDifference(new Uint32Array(x.buffer), plain.value, new Uint32Array(ggmlGelu(x).buffer))).toBeNull();
  });
});

describe("ggml GELU kernel variants (benchmarks/ggml_gelu_kernels.ts times them)", () => {
  it("float16 or float32 table, scalar or SIMD: ggmlGelu's bits on every float16 value, tie and special", () => {
    const { values, ties } = halfPatterns();
    const patterns = [...withNeighbours([...values, ...ties, ...special, ...nans]), ...randomPatterns(20_000, 18)];
    const n = patterns.length;
    const variants = GGML_GELU_VARIANTS;
    const memory = new wasm.Memory({ initial: Math.ceil((8 * n + (1 << 20)) / 65536) + 1 });
    const exports = new wasm.Instance(
      new wasm.Module(emitModule(variants.map(([name, table, simd]) => ggmlGeluFunction(name, table, simd)))),
      { env: { memory } },
    ).exports as Record<string, (src: number, dst: number, n: number, table: number) => void>;
    const [T32, T16, X] = [0, 1 << 18, 3 << 17];
    const Y = X + 4 * n + 64;
    const table = geluTable();
    new Float32Array(memory.buffer, T32, 65536).set(table);
    const t16 = new Uint16Array(memory.buffer, T16, 65536);
    for (let i = 0; i < 65536; i++) t16[i] = float32ToFloat16Bits(table[i]!);
    const bits = new Uint32Array(memory.buffer, X, n);
    bits.set(patterns);
    const want = new Uint32Array(ggmlGelu(new Float32Array(memory.buffer, X, n)).buffer);
    for (const [name, kind] of variants) {
      new Uint32Array(memory.buffer, Y, n).fill(0);
      exports[name]!(X, Y, n, kind === "f32" ? T32 : T16);
      expect(firstDifference(bits, new Uint32Array(memory.buffer, Y, n), want), name).toBeNull();
    }
  });
});
