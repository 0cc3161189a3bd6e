import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend, Rng, causalMask, full, scaledDotProductAttention, tensor, type Tensor } from "../src/index.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
import { residentStats } from "../src/cpu/resident/runtime.js";

// The group kernel (cpu/wasm/attention_group_module.ts) decodes the query heads that share a
// key/value head four at a time, reading each key and value row once for the four. Its rows must
// be the row kernel's bit for bit: the same operands with the mask materialised per head (which
// the group kernel declines) give the row kernel's result to compare with.

const relaxed = hasRelaxedSimd();
const backends = [
  ...[1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false })),
  ...(relaxed ? [1, 2].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: true })) : []),
  new CpuBackend({ threads: 1, minWorkPerThread: 0, activationRounding: "ggml" }),
];
afterAll(() => {
  for (const b of backends) b.close();
});

const rng = new Rng(23);
const normals = (n: number, scale = 1) => Array.from({ length: n }, () => rng.normal() * scale);

/** Every float16 value class: zeros, subnormals, the extremes, infinities, NaN. */
const SPECIAL_HALVES = [0x0000, 0x8000, 0x0001, 0x83ff, 0x0400, 0x7bff, 0xfbff, 0x3c00, 0x7c00, 0xfc00, 0x7e00, 0x0200];

function calls<R>(name: string, fn: () => R): { result: R; calls: number } {
  const before = residentStats.calls.get(name) ?? 0;
  const result = fn();
  return { result, calls: (residentStats.calls.get(name) ?? 0) - before };
}

function sameBits(got: Float32Array, want: Float32Array, what: string): void {
  expect(got.length, what).toBe(want.length);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) expect.fail(`${what}, element ${i}: group kernel ${got[i]}, row kernel ${want[i]}`);
  }
}

interface Case {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
  masked?: boolean;
}

const CASES: Case[] = [
  { B: 1, H: 32, Hkv: 4, T: 1, S: 150, D: 64 }, // TinyLlama's heads
  { B: 2, H: 12, Hkv: 2, T: 1, S: 77, D: 24 }, // six a group: four, then two by the row kernel
  { B: 1, H: 8, Hkv: 1, T: 3, S: 40, D: 16, masked: true }, // one key/value head for all, a causal mask
  { B: 1, H: 9, Hkv: 1, T: 2, S: 33, D: 8, masked: true }, // nine: two fours and one
  { B: 1, H: 4, Hkv: 1, T: 1, S: 1, D: 128 },
  { B: 1, H: 4, Hkv: 1, T: 4, S: 6, D: 8, masked: true }, // the first query's row: one key, the rest masked
];

function name(c: Case): string {
  return `B${c.B} H${c.H} Hkv${c.Hkv} T${c.T} S${c.S} D${c.D}${c.masked ? " masked" : ""}`;
}

/** The mask for c, shared by every head (the group kernel's) and materialised per head (the row kernel's). */
function masks(c: Case, backend: CpuBackend): { shared: Tensor | null; perHead: Tensor } {
  const shared = c.masked ? causalMask(c.T, c.S, backend) : null;
  const base = shared ?? full([c.T, c.S], 1, { dtype: "bool", backend });
  return { shared, perHead: base.reshape(1, 1, c.T, c.S).expand(c.B, c.H, c.T, c.S).contiguous() };
}

describe("the grouped-query decode attention kernel", () => {
  for (const c of CASES) {
    for (const dtype of ["float32", "float16"] as const) {
      it(`${name(c)}, ${dtype} keys and values: the row kernel's bits on every backend`, () => {
        const kernel = dtype === "float16" ? "attention_group_f16" : "attention_group";
        for (const backend of backends) {
          const q = tensor(normals(c.B * c.H * c.T * c.D, 3), { shape: [c.B, c.H, c.T, c.D], backend });
          const k = tensor(normals(c.B * c.Hkv * c.S * c.D, 2), { shape: [c.B, c.Hkv, c.S, c.D], backend }).cast(dtype);
          const v = tensor(normals(c.B * c.Hkv * c.S * c.D), { shape: [c.B, c.Hkv, c.S, c.D], backend }).cast(dtype);
          const { shared, perHead } = masks(c, backend);
          const group = calls(kernel, () => scaledDotProductAttention(q, k, v, { mask: shared }).dataSync() as Float32Array);
          expect(group.calls, `${name(c)}: ${kernel} ran`).toBeGreaterThan(0);
          const rows = calls(kernel, () => scaledDotProductAttention(q, k, v, { mask: perHead }).dataSync() as Float32Array);
          expect(rows.calls, "a per-head mask takes the row kernel").toBe(0);
          sameBits(group.result, rows.result, `${name(c)}, ${dtype}, ${backend.threads} threads, relaxed ${backend.relaxedSimd}`);
        }
      });
    }
  }

  it("every float16 value class in keys and values, and a NaN query", () => {
    const [H, S, D] = [4, SPECIAL_HALVES.length, 16];
    for (const backend of backends) {
      const keyBits = new Uint16Array(S * D);
      const valueBits = new Uint16Array(S * D);
      for (let s = 0; s < S; s++)
        for (let d = 0; d < D; d++) {
          keyBits[s * D + d] = d === s % D ? SPECIAL_HALVES[s]! : 0x2e66; // 0.1, one special a key
          valueBits[s * D + d] = SPECIAL_HALVES[(s + d) % S]!;
        }
      const qData = normals(H * D);
      qData[3 * D + 5] = Number.NaN;
      const q = tensor(qData, { shape: [1, H, 1, D], backend });
      for (const bits of [keyBits, keyBits.map((b) => ((b & 0x7c00) === 0x7c00 ? 0x3c00 : b))]) {
        const k = tensor(bits, { shape: [1, 1, S, D], dtype: "float16", backend });
        const v = tensor(valueBits, { shape: [1, 1, S, D], dtype: "float16", backend });
        const { perHead } = masks({ B: 1, H, Hkv: 1, T: 1, S, D }, backend);
        const group = calls("attention_group_f16", () => scaledDotProductAttention(q, k, v).dataSync() as Float32Array);
        expect(group.calls).toBeGreaterThan(0);
        const rows = scaledDotProductAttention(q, k, v, { mask: perHead }).dataSync() as Float32Array;
        sameBits(group.result, rows, `specials, ${backend.threads} threads, relaxed ${backend.relaxedSimd}`);
      }
    }
  });

  it("declines a bias, D not a multiple of 8 and fewer than four heads a group (the row kernel runs)", () => {
    const backend = backends[0]!;
    for (const [H, Hkv, D, bias] of [
      [8, 2, 64, true],
      [8, 2, 12, false],
      [6, 2, 64, false],
    ] as const) {
      const q = tensor(normals(H * D), { shape: [1, H, 1, D], backend });
      const k = tensor(normals(Hkv * 5 * D), { shape: [1, Hkv, 5, D], backend });
      const b = bias ? tensor(normals(5), { shape: [1, 1, 1, 5], backend }) : null;
      const run = calls("attention_group", () => scaledDotProductAttention(q, k, k, { bias: b }).dataSync());
      expect(run.calls, `H ${H} Hkv ${Hkv} D ${D} bias ${bias}`).toBe(0);
      expect(calls("attention", () => scaledDotProductAttention(q, k, k, { bias: b }).dataSync()).calls).toBeGreaterThan(0);
    }
  });
});
