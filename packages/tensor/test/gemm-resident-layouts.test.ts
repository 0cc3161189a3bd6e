import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { randomF32 } from "./cpu-helpers.js";

// The resident GEMM packs A into two-row panels by one of three paths (A's rows along k, a
// transposed A whose rows are neighbours, any other strides) and a last one-row panel: with plain
// SIMD every output must be the float32 sum over k in order, acc = fround(acc + fround(a b)), bit
// for bit, whichever path packed its rows, on 1 and 2 threads.

const backends = [1, 2].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false }));
afterAll(() => {
  for (const b of backends) b.close();
});

type Layout = "rows" | "transposed" | "strided";

/** A's [M, K] values, and where they sit in a buffer of `data.length` floats for each layout. */
function layoutOf(M: number, K: number, layout: Layout): { size: number; index: (i: number, p: number) => number; strides: number[] } {
  if (layout === "rows") return { size: M * K, index: (i, p) => i * K + p, strides: [K, 1] };
  if (layout === "transposed") return { size: M * K, index: (i, p) => p * M + i, strides: [1, M] };
  // every other float of a [M, 2K + 1] buffer: neither stride is one
  return { size: M * (2 * K + 1), index: (i, p) => i * (2 * K + 1) + 2 * p, strides: [2 * K + 1, 2] };
}

describe("resident GEMM: A packed by every path, the ordered float32 sum bit for bit", () => {
  for (const [M, K, N] of [
    [2, 4, 16],
    [3, 5, 17], // a one-row last panel, k not a multiple of four
    [64, 64, 48],
    [67, 259, 33], // two K blocks, an odd last panel
    [130, 300, 520], // M blocks, N blocks
  ] as const) {
    for (const layout of ["rows", "transposed", "strided"] as const) {
      it(`${M} x ${K} x ${N}, A ${layout}`, () => {
        const { size, index, strides } = layoutOf(M, K, layout);
        const data = randomF32(size, M + K);
        const w = randomF32(K * N, N);
        const want = new Float32Array(M * N);
        for (let i = 0; i < M; i++) {
          for (let j = 0; j < N; j++) {
            let s = 0;
            for (let p = 0; p < K; p++) s = Math.fround(s + Math.fround(data[index(i, p)]! * w[p * N + j]!));
            want[i * N + j] = s;
          }
        }
        for (const be of backends) {
          const a: StridedView = { buffer: be.upload(data, "float32"), shape: [M, K], strides, offset: 0 };
          const b: StridedView = { buffer: be.upload(w, "float32"), shape: [K, N], strides: [N, 1], offset: 0 };
          expect(be.readSync(be.matmul(a, b))).toEqual(want);
        }
      });
    }
  }
});
