import { describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { gemmWasmF32 } from "../src/cpu/wasm/gemm.js";
import { wasmGemm } from "../src/cpu/wasm/runtime.js";
import { expectClose, randomF32, read, restride, view } from "./cpu-helpers.js";

/** C = A B in float64 over strided float32 operands: the reference. */
function gemmRef(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  oa: number,
  sam: number,
  sak: number,
  B: Float32Array,
  ob: number,
  sbk: number,
  sbn: number,
): Float64Array {
  const C = new Float64Array(M * N);
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += A[oa + i * sam + k * sak]! * B[ob + k * sbk + j * sbn]!;
      C[i * N + j] = s;
    }
  }
  return C;
}

/** An [R, C] operand at offset `o` of a padded buffer, row-major or stored transposed. */
function operand(R: number, C: number, seed: number, transposed: boolean, o = 0) {
  const data = randomF32(o + R * C + 5, seed);
  return transposed ? { data, o, sr: 1, sc: R } : { data, o, sr: C, sc: 1 };
}

/** Runs the WASM GEMM (forced to take even tiny shapes) into a sentinel-filled C, checks it. */
function check(M: number, K: number, N: number, ta: boolean, tb: boolean, seed: number, oc = 0): void {
  const a = operand(M, K, seed, ta, 3);
  const b = operand(K, N, seed + 1, tb, 1);
  const C = new Float32Array(oc + M * N + 7).fill(Number.NaN);
  expect(gemmWasmF32(M, N, K, a.data, a.o, a.sr, a.sc, b.data, b.o, b.sr, b.sc, C, oc, 0)).toBe(true);
  const want = gemmRef(M, N, K, a.data, a.o, a.sr, a.sc, b.data, b.o, b.sr, b.sc);
  expectClose(C.subarray(oc, oc + M * N), want, 2e-5);
  // nothing written outside the output
  for (let i = 0; i < oc; i++) expect(C[i]).toBeNaN();
  for (let i = oc + M * N; i < C.length; i++) expect(C[i]).toBeNaN();
}

describe("cpu wasm gemm", () => {
  it("compiles in Node (WebAssembly SIMD is available)", () => {
    expect(wasmGemm()).not.toBeNull();
  });

  it("matches a float64 product at odd square sizes, every transpose combination", () => {
    let seed = 1;
    for (const n of [7, 17, 33, 65, 129, 257]) {
      for (const ta of [false, true]) for (const tb of [false, true]) check(n, n, n, ta, tb, (seed += 2), n % 5);
    }
  });

  it("spans K, M and N blocks and leaves ragged tiles", () => {
    let seed = 100;
    for (const [M, K, N] of [
      [2, 5, 4], // smallest shape taken: half a row tile, one vector of columns
      [3, 1, 9], // K = 1, padded to the unroll
      [5, 300, 13], // two K blocks, the second short
      [70, 513, 6], // three K blocks; M spans two row blocks
      [130, 33, 1031], // M past two row blocks, N past two column blocks
      [257, 257, 520], // N one column block plus a sliver
    ] as [number, number, number][]) {
      for (const ta of [false, true]) for (const tb of [false, true]) check(M, K, N, ta, tb, (seed += 2), 1);
    }
  });

  it("a single row (decoding) against a large matrix, in both weight layouts", () => {
    check(1, 300, 257, false, false, 70);
    check(1, 300, 257, false, true, 72);
    check(1, 257, 300, true, true, 74, 3);
    // the GEMV path stages the matrix in chunks of rows: several chunks, widths that leave a
    // partial vector, and a strided x (A stored transposed)
    check(1, 771, 2305, false, false, 76, 2);
    check(1, 2305, 771, false, true, 78, 2);
    check(1, 1023, 65, true, false, 80);
    check(1, 65, 1023, true, true, 82);
  });

  // Sums are float32, as in PyTorch's CPU matmul (the JS kernel sums a K block in float64): the
  // error of 5000 sequential float32 additions is ~4e-5 relative here.
  it("accumulates long dot products (many K blocks) to float32 accuracy", () => {
    const K = 5000;
    const a = new Float32Array(2 * K).fill(0.1);
    const b = new Float32Array(K * 16).fill(1);
    const C = new Float32Array(32);
    expect(gemmWasmF32(2, 16, K, a, 0, K, 1, b, 0, 16, 1, C, 0)).toBe(true);
    const want = K * Math.fround(0.1);
    for (const c of C) expect(Math.abs(c - want) / want).toBeLessThan(1e-4);
  });

  it("declines what the JS kernels do better: K = 0, a small single row, under 4 columns, tiny products", () => {
    const x = new Float32Array(64);
    const C = new Float32Array(64);
    expect(gemmWasmF32(4, 4, 0, x, 0, 0, 1, x, 0, 4, 1, C, 0)).toBe(false);
    expect(gemmWasmF32(1, 16, 4, x, 0, 4, 1, x, 0, 16, 1, C, 0)).toBe(false);
    expect(gemmWasmF32(8, 3, 8, x, 0, 8, 1, x, 0, 3, 1, C, 0)).toBe(false);
    expect(gemmWasmF32(4, 4, 4, x, 0, 4, 1, x, 0, 4, 1, C, 0)).toBe(false);
  });
});

describe("cpu backend matmul with wasm on and off", () => {
  const on = new CpuBackend({ wasm: true });
  const off = new CpuBackend({ wasm: false });

  /** Naive batched reference over strided views in float64. */
  function ref(a: StridedView, b: StridedView, A: Float32Array, B: Float32Array): number[] {
    const r = a.shape.length;
    const [M, K, N] = [a.shape[r - 2]!, a.shape[r - 1]!, b.shape[r - 1]!];
    const batch = a.shape.slice(0, r - 2).reduce((x, y) => x * y, 1);
    const out: number[] = [];
    for (let t = 0; t < batch; t++) {
      // unravel t over the batch dims to offsets
      let oa = a.offset,
        ob = b.offset;
      for (let d = r - 3, rest = t; d >= 0; d--) {
        const i = rest % a.shape[d]!;
        rest = Math.floor(rest / a.shape[d]!);
        oa += i * a.strides[d]!;
        ob += i * b.strides[d]!;
      }
      const c = gemmRef(M, N, K, A, oa, a.strides[r - 2]!, a.strides[r - 1]!, B, ob, b.strides[r - 2]!, b.strides[r - 1]!);
      out.push(...c);
    }
    return out;
  }

  it("batched, with stride-0 broadcast batches, offsets and transposed operands", () => {
    const A = randomF32(3 * 4 * 33 * 65 + 9, 7);
    const B = randomF32(65 * 17 + 4, 8);
    const a = view(A, [A.length]);
    const b = view(B, [B.length]);
    const cases: [StridedView, StridedView][] = [
      // [3, 4, 33, 65] @ one shared [65, 17] (the x @ W of a layer: a single taller GEMM)
      [restride(a, [3, 4, 33, 65], [4 * 33 * 65, 33 * 65, 65, 1], 9), restride(b, [3, 4, 65, 17], [0, 0, 17, 1], 4)],
      // batch dims in swapped order (not contiguous), b's K axis flipped (negative stride)
      [restride(a, [4, 3, 33, 65], [33 * 65, 4 * 33 * 65, 65, 1], 0), restride(b, [4, 3, 65, 17], [0, 0, -17, 1], 64 * 17 + 4)],
      // a transposed per batch entry, b broadcast along one batch dim only
      [restride(a, [3, 4, 65, 33], [4 * 33 * 65, 33 * 65, 1, 65], 0), restride(b, [3, 4, 33, 17], [0, 17, 17, 1], 0)],
    ];
    for (const [x, y] of cases) {
      const want = ref(x, y, A, B);
      expectClose(read(on.matmul(x, y)), want, 2e-5);
      expectClose(read(off.matmul(x, y)), want, 2e-5);
    }
  });

  it("sizes 1 and 3 (under a tile; the JS kernels take them) in every transpose combination", () => {
    let seed = 50;
    for (const n of [1, 3]) {
      for (const ta of [false, true]) {
        for (const tb of [false, true]) {
          const a = operand(n, n, seed++, ta);
          const b = operand(n, n, seed++, tb);
          const want = gemmRef(n, n, n, a.data, 0, a.sr, a.sc, b.data, 0, b.sr, b.sc);
          const va = view(a.data, [n, n], { strides: [a.sr, a.sc] });
          const vb = view(b.data, [n, n], { strides: [b.sr, b.sc] });
          expectClose(read(on.matmul(va, vb)), want, 2e-5);
        }
      }
    }
  });

  it("K = 0 gives zeros and M = 1 matches, on both paths", () => {
    for (const be of [on, off]) {
      expect(read(be.matmul(view([], [5, 0]), view([], [0, 9])))).toEqual(new Array(45).fill(0));
      const x = randomF32(129, 3);
      const w = randomF32(129 * 65, 4);
      const got = read(be.matmul(view(x, [1, 129]), view(w, [129, 65])));
      expectClose(got, gemmRef(1, 65, 129, x, 0, 129, 1, w, 0, 65, 1), 2e-5);
    }
  });
});
