import { describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { at, expectClose, indices, randomF32, read, restride, transposed, view } from "./cpu-helpers.js";

/** Naive batched matmul over any strided views, in float64. */
function matmulRef(a: StridedView, b: StridedView): number[] {
  const r = a.shape.length;
  const [M, K, N] = [a.shape[r - 2]!, a.shape[r - 1]!, b.shape[r - 1]!];
  const out: number[] = [];
  for (const batch of indices(a.shape.slice(0, r - 2))) {
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += at(a, [...batch, i, k]) * at(b, [...batch, k, j]);
        out.push(s);
      }
    }
  }
  return out;
}

/** [rows, cols] float32 operand, optionally stored transposed (a strided view, not a copy). */
function operand(rows: number, cols: number, seed: number, stored: "plain" | "transposed"): StridedView {
  if (stored === "plain") return view(randomF32(rows * cols, seed), [rows, cols]);
  return transposed(view(randomF32(rows * cols, seed), [cols, rows]));
}

// Every case runs on the WASM SIMD kernel and on the JS kernels.
for (const be of [new CpuBackend({ wasm: true }), new CpuBackend({ wasm: false })])
  describe(`cpu matmul (wasm ${be.wasm ? "on" : "off"})`, () => {
    const sizes = [1, 7, 33, 65, 129];
    const layouts = ["plain", "transposed"] as const;

    it("matches the naive product for odd sizes and every transpose combination", () => {
      let seed = 1;
      for (const [M, K, N] of [
        ...sizes.map((s) => [s, s, s]),
        [1, 65, 129],
        [129, 1, 7],
        [7, 129, 1],
        [33, 300, 65], // K spans more than one K block
        [2, 3, 1100], // N spans more than one N block
        [70, 5, 3], // M spans more than one M block
        [2, 9, 5], // fewer rows than a tile
        [3, 33, 2], // fewer rows and columns than a tile
        [65, 7, 2],
      ] as [number, number, number][]) {
        for (const la of layouts) {
          for (const lb of layouts) {
            const a = operand(M, K, seed++, la);
            const b = operand(K, N, seed++, lb);
            const out = be.matmul(a, b);
            expect(out.size).toBe(M * N);
            expectClose(read(out), matmulRef(a, b), 2e-5);
          }
        }
      }
    });

    it("handles batches, broadcast (stride 0) batches and offsets", () => {
      const a = view(randomF32(2 * 3 * 5 * 7 + 3, 20), [2 * 3 * 5 * 7 + 3]);
      const av = restride(a, [2, 3, 5, 7], [105, 35, 7, 1], 3);
      const b = view(randomF32(7 * 9, 21), [7, 9]);
      const bv = restride(b, [2, 3, 7, 9], [0, 0, 9, 1], 0); // one matrix shared by every batch
      expectClose(read(be.matmul(av, bv)), matmulRef(av, bv), 2e-5);
      // transposed batch order and a negative-stride (flipped) K axis
      const at2 = restride(a, [3, 2, 5, 7], [35, 105, 1, 5], 0);
      const bf = restride(b, [3, 2, 7, 9], [0, 0, -9, 1], 54);
      expectClose(read(be.matmul(at2, bf)), matmulRef(at2, bf), 2e-5);
    });

    it("matrix-vector shapes (M = 1) with both weight layouts, as in decoding", () => {
      const x = view(randomF32(300, 22), [1, 300]);
      const w = view(randomF32(300 * 70, 23), [70, 300]); // nn.Linear weight [out, in]
      expectClose(read(be.matmul(x, transposed(w))), matmulRef(x, transposed(w)), 2e-5);
      const w2 = view(randomF32(300 * 70, 24), [300, 70]);
      expectClose(read(be.matmul(x, w2)), matmulRef(x, w2), 2e-5);
      const xb = restride(x, [4, 1, 300], [0, 300, 1], 0);
      const wb = restride(w2, [4, 300, 70], [0, 70, 1], 0);
      expectClose(read(be.matmul(xb, wb)), matmulRef(xb, wb), 2e-5);
    });

    it("K = 0 gives zeros; int32 and float16 operands", () => {
      const a = view([], [2, 0]);
      const b = view([], [0, 3]);
      expect(read(be.matmul(a, b))).toEqual([0, 0, 0, 0, 0, 0]);
      const ai = view([1, 2, 3, 4, 5, 6], [2, 3], { dtype: "int32" });
      const bi = view([65536, 1, 65536, 0, 1, 1], [3, 2], { dtype: "int32" });
      const oi = be.matmul(ai, bi);
      expect(oi.dtype).toBe("int32");
      expect(read(oi)).toEqual([3 * 65536 + 3, 1 + 3, 9 * 65536 + 6, 4 + 6]);
      const big = view([65536, 3], [1, 2], { dtype: "int32" });
      expect(read(be.matmul(big, transposed(big)))).toEqual([9]); // 2^32 wraps to 0, like C
      const ah = be.cast(view([1, 2, 3, 4], [2, 2]), "float16");
      const ahv = { buffer: ah, shape: [2, 2], strides: [2, 1], offset: 0 };
      const oh = be.matmul(ahv, transposed(ahv));
      expect(oh.dtype).toBe("float16");
      expect(read(be.cast({ ...ahv, buffer: oh }, "float32"))).toEqual([5, 11, 11, 25]);
    });

    it("accumulates long dot products accurately", () => {
      const K = 5000;
      const a = view(new Float32Array(K).fill(0.1), [1, K]);
      const b = view(new Float32Array(K).fill(1), [K, 1]);
      expect(read(be.matmul(a, b))[0]).toBeCloseTo(K * Math.fround(0.1), 2);
    });
  });
