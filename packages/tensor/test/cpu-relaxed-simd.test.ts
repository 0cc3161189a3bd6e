import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import type { CpuBuffer } from "../src/cpu/buffer.js";
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/cpu/half.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { randomF32 } from "./cpu-helpers.js";

// The kernels built with relaxed SIMD's fused multiply-add (chosen at start-up where the engine has
// it) against the plain SIMD ones: both correct against float64, and the fused path, like the
// plain one, the same bits on 1, 2 and 3 threads.

const available = hasRelaxedSimd();
const fused = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: available }));
const plainSimd = new CpuBackend({ threads: 2, minWorkPerThread: 0, relaxedSimd: false });
afterAll(() => {
  for (const b of [...fused, plainSimd]) b.close();
});

function view(be: CpuBackend, data: Float32Array, shape: number[], strides?: number[]): StridedView {
  return {
    buffer: be.upload(data, "float32"),
    shape,
    strides: strides ?? shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1)),
    offset: 0,
  };
}

describe.skipIf(!available)("relaxed SIMD (fused multiply-add)", () => {
  it("is what the backend picks where the engine has it, and what relaxedSimd: false turns off", () => {
    expect(new CpuBackend().relaxedSimd).toBe(true);
    expect(fused[0]!.relaxedSimd).toBe(true);
    expect(plainSimd.relaxedSimd).toBe(false);
  });

  for (const [M, K, N, layout] of [
    [1, 300, 70, "in_out"],
    [1, 300, 70, "out_in"],
    [33, 257, 130, "in_out"],
    [33, 257, 130, "out_in"],
  ] as const) {
    it(`matmul ${M} x ${K} x ${N} (weight ${layout}): float64-close on both paths, fused the same on 1, 2, 3 threads`, () => {
      const a = randomF32(M * K, 1);
      const w = randomF32(K * N, 2);
      const run = (be: CpuBackend) =>
        be.readSync(
          be.matmul(view(be, a, [M, K]), layout === "in_out" ? view(be, w, [K, N]) : view(be, w, [K, N], [1, K])),
        ) as Float32Array;
      const outs = fused.map(run);
      const plain = run(plainSimd);
      for (let i = 0; i < M; i++) {
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let p = 0; p < K; p++) s += a[i * K + p]! * w[layout === "in_out" ? p * N + j : j * K + p]!;
          expect(Math.abs(outs[0]![i * N + j]! - s)).toBeLessThan(2e-4);
          expect(Math.abs(plain[i * N + j]! - s)).toBeLessThan(2e-4);
        }
      }
      expect(outs[1]).toEqual(outs[0]);
      expect(outs[2]).toEqual(outs[0]);
    });
  }

  it("attention: float64-close on both paths, fused the same on 1, 2, 3 threads", () => {
    const [B, H, T, S, D] = [1, 4, 5, 37, 16];
    const q = randomF32(B * H * T * D, 3);
    const k = randomF32(B * H * S * D, 4);
    const v = randomF32(B * H * S * D, 5);
    const run = (be: CpuBackend) =>
      be.readSync(
        be.fused!.attention!(view(be, q, [B, H, T, D]), view(be, k, [B, H, S, D]), view(be, v, [B, H, S, D]), null, null, 0.25),
      ) as Float32Array;
    const outs = fused.map(run);
    const plain = run(plainSimd);
    for (let i = 0; i < plain.length; i++) expect(Math.abs(outs[0]![i]! - plain[i]!)).toBeLessThan(1e-5);
    expect(outs[1]).toEqual(outs[0]);
    expect(outs[2]).toEqual(outs[0]);
  });
});

/**
 * The fused half GEMV's dot product of a weight row (its values) with x, in the kernel's order: four
 * sums of four lanes, sum g taking group g (four values) of every 16 (`paired`: the even or odd
 * values of one of its two eights), added as ((s0 + s1) + (s2 + s3)); the K / 4 mod 4 groups left
 * into that one at a time; the lanes as (l0 + l1) + (l2 + l3).
 * A fused multiply-add is the float32 rounding of w x + s: w x is exact in float64 (24 + 24 bits).
 */
function fusedHalfDot(w: Float32Array, x: Float32Array, paired = false): number {
  const f = Math.fround;
  const sums = [0, 1, 2, 3].map(() => [0, 0, 0, 0]);
  const groups = w.length / 4;
  const unrolled = groups - (groups % 4);
  for (let e = 0; e < 4 * unrolled; e++) {
    // value e of each 16: plainly sum (e / 4) % 4, lane e % 4; paired (gemv_f16_scaled_paired),
    // each eight's even values to one sum and its odd ones to the next, lane (e % 8) / 2
    const r = e % 16;
    const [sum, lane] = paired ? [2 * (r >> 3) + (r & 1), (r & 7) >> 1] : [r >> 2, r & 3];
    sums[sum]![lane] = f(w[e]! * x[e]! + sums[sum]![lane]!);
  }
  const s = [0, 1, 2, 3].map((l) => f(f(sums[0]![l]! + sums[1]![l]!) + f(sums[2]![l]! + sums[3]![l]!)));
  for (let g = unrolled; g < groups; g++) for (let l = 0; l < 4; l++) s[l] = f(w[4 * g + l]! * x[4 * g + l]! + s[l]!);
  return f(f(s[0]! + s[1]!) + f(s[2]! + s[3]!));
}

describe.skipIf(!available)("relaxed SIMD: decoding over float16 and bfloat16 weights", () => {
  // weights: random ones and the edges of float16 (subnormals from 2^-24, whose rebased float32
  // is a subnormal too, up to 65504); activations below 2^16 take gemv_f16_scaled (x 2^112 in
  // a copy; gemv_f16_scaled_paired, the copy in pairs' order, where K is a multiple of 16), one
  // of 2^16 gemv_f16: each must give the fused sum of the same products in its order
  const edges = [2 ** -24, 3 * 2 ** -24, 6.1e-5, 2 ** -14, 1e-3, 1, 3.25, 1000, 65504];
  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`${dtype}: each product added by one fused multiply-add, in the kernel's order, on 1, 2 and 3 threads`, () => {
      const [encode, decode] =
        dtype === "float16" ? [float32ToFloat16Bits, float16BitsToFloat32] : [float32ToBfloat16Bits, bfloat16BitsToFloat32];
      for (const [N, K, edgy] of [
        [9, 64, true],
        [37, 100, false],
        [70, 768, false],
        [3, 4, true],
      ] as const) {
        const raw = randomF32(N * K, K);
        const w = raw.map((v, i) => (edgy && i % 2 ? (i % 3 ? -1 : 1) * edges[(i * 7) % edges.length]! : v));
        const bits = Uint16Array.from(w, encode);
        const values = Float32Array.from(bits, decode);
        // rows whose length is a multiple of 16 take the paired kernels and their order
        const small =
          K % 16 === 0
            ? dtype === "float16"
              ? "gemv_f16_scaled_paired"
              : "gemv_bf16_paired"
            : dtype === "float16"
              ? "gemv_f16_scaled"
              : "gemv_bf16";
        const xs: [Float32Array, string][] = [[randomF32(K, N), small]];
        if (dtype === "float16") xs.push([randomF32(K, N + 1).map((v, i) => (i === 1 ? 65536 : v)), "gemv_f16"]);
        for (const [x, kernel] of xs) {
          const paired = kernel.endsWith("_paired");
          const want = Float32Array.from({ length: N }, (_, n) => fusedHalfDot(values.subarray(n * K, (n + 1) * K), x, paired));
          for (const be of fused) {
            const a: StridedView = { buffer: be.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
            const b: StridedView = { buffer: be.upload(bits, dtype) as CpuBuffer, shape: [K, N], strides: [1, K], offset: 0 };
            const before = residentStats.calls.get(kernel) ?? 0;
            const got = be.readSync(be.matmul(a, b)) as Float32Array;
            expect(residentStats.calls.get(kernel), `${kernel} ran`).toBe(before + 1);
            expect(got, `${dtype} [${N}, ${K}] ${kernel}, ${be.threads} threads`).toEqual(want);
          }
        }
      }
    });
  }
});

describe.skipIf(available)("relaxed SIMD missing", () => {
  it("falls back to plain SIMD, and refuses relaxedSimd: true", () => {
    expect(new CpuBackend().relaxedSimd).toBe(false);
    expect(() => new CpuBackend({ relaxedSimd: true }).threads).toThrow(/no relaxed SIMD/);
  });
});
