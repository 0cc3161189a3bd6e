import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
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

describe.skipIf(available)("relaxed SIMD missing", () => {
  it("falls back to plain SIMD, and refuses relaxedSimd: true", () => {
    expect(new CpuBackend().relaxedSimd).toBe(false);
    expect(() => new CpuBackend({ relaxedSimd: true }).threads).toThrow(/no relaxed SIMD/);
  });
});
