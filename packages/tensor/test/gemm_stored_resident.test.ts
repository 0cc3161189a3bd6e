import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import type { CpuBuffer } from "../src/cpu/buffer.js";
import { float16BitsToFloat32, float32ToBfloat16Bits, bfloat16BitsToFloat32, float32ToFloat16Bits } from "../src/cpu/half.js";
import { roundActivationsLikeGgml } from "../src/cpu/kernels/ggml_rounding.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { QUANT_BLOCKS, QUANTIZED_DTYPES, type DType, type QuantizedDType } from "../src/dtype.js";
import { dequantizeBlocks, quantizeBlocks } from "../src/quant/index.js";
import { isLattice } from "../src/cpu/wasm/lattice_code.js";
import { randomF32, randomLatticeBlocks, randomScaleMinBlocks } from "./cpu-helpers.js";

// Prefill over a weight kept as stored (float16, bfloat16, every block type) in the resident
// heap: threads take ranges of the weight's rows, decode them panel by panel in WebAssembly and run
// the float32 GEMM on each panel. Every product must be the same bits on 1, 2 and 3 threads, and the
// same bits as the float32 GEMM over the whole weight decoded by the JS decoders (so the decoders
// agree bit for bit and the panels change nothing). minWorkPerThread 0 splits even small products.

const backends = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0 }));
const ggml = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, activationRounding: "ggml" }));
afterAll(() => {
  for (const b of [...backends, ...ggml]) b.close();
});

type Stored = "float16" | "bfloat16" | QuantizedDType;
const STORED: readonly Stored[] = ["float16", "bfloat16", ...QUANTIZED_DTYPES];
/** The types whose prefill in "ggml" mode is the int8 GEMM (resident/gemm_q8.ts). */
const INT8_GEMM = new Set<Stored>(["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "iq4_nl"]);
/** The super-block types with an int8 prefill GEMM (Q8_K activations). */
const INT8_GEMM_K = new Set<Stored>(["q4_k", "q5_k", "q6_k", "q3_k", "iq4_xs"]);

/** W [N, K] as `dtype` (host array) and the float32 values it then holds (JS decoders). */
function encode(dtype: Stored, w: Float32Array, seed: number): { data: Uint8Array | Uint16Array; values: Float32Array } {
  const values = new Float32Array(w.length);
  if (dtype === "float16" || dtype === "bfloat16") {
    const f16 = dtype === "float16";
    const data = Uint16Array.from(w, (v) => (f16 ? float32ToFloat16Bits(v) : float32ToBfloat16Bits(v)));
    data.forEach((h, i) => {
      values[i] = f16 ? float16BitsToFloat32(h) : bfloat16BitsToFloat32(h);
    });
    return { data, values };
  }
  const { elements, bytes } = QUANT_BLOCKS[dtype];
  const blocks = w.length / elements;
  let data: Uint8Array;
  if (dtype === "q4_k" || dtype === "q5_k") {
    data = randomScaleMinBlocks(dtype, blocks, seed);
  } else if (isLattice(dtype)) {
    // the lattice types are read only: random blocks (every index, sign and scale)
    data = randomLatticeBlocks(dtype, blocks, seed);
  } else {
    data = new Uint8Array(blocks * bytes);
    quantizeBlocks(dtype, w, 0, w.length, data, 0);
  }
  dequantizeBlocks(dtype, data, 0, w.length, values, 0);
  return { data, values };
}

/** The [K, N] view of rows [first, first + N) of a stored [rows, K] weight (x @ W^T). */
function weightView(buffer: CpuBuffer, K: number, N: number, first: number): StridedView {
  return { buffer, shape: [K, N], strides: [1, K], offset: first * K };
}

/** Which resident kernels fn called, and how many parts worker threads took. */
function traced<T>(fn: () => T): { value: T; calls: string[]; workerParts: number } {
  const before = new Map(residentStats.calls);
  const workerParts = residentStats.workerParts;
  const value = fn();
  const calls = [...residentStats.calls].filter(([name, n]) => n !== (before.get(name) ?? 0)).map(([name]) => name);
  return { value, calls, workerParts: residentStats.workerParts - workerParts };
}

function product(
  be: CpuBackend,
  x: Float32Array,
  rows: number,
  K: number,
  data: Uint8Array | Uint16Array | Float32Array,
  dtype: DType,
  N: number,
  first: number,
) {
  const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
  const b = weightView(be.upload(data, dtype) as CpuBuffer, K, N, first);
  return traced(() => be.readSync(be.matmul(a, b)) as Float32Array);
}

/**
 * ggml_vec_dot_q4_1_q8_1 / _q5_1_q8_1 on x's rows, in float64 from the blocks' own fields: each
 * activation block as x86's quantize_row_q8_1 makes it (d = amax / 127, levels round(x 127 / amax)
 * to nearest even, s = d * sum(levels) in float16), each weight block's d, m and levels read from its
 * bytes; sum over blocks of d_w d16 (q_w . q) + m_w s. `size` is the sum of the terms' magnitudes.
 */
function ggmlQ8_1Products(x: Float32Array, rows: number, K: number, w: Uint8Array, dtype: "q4_1" | "q5_1", N: number) {
  const f = Math.fround;
  const half = (v: number) => float16BitsToFloat32(float32ToFloat16Bits(v));
  const even = (v: number) => (Math.abs(v % 1) === 0.5 ? 2 * Math.round(v / 2) : Math.round(v));
  const bytes = dtype === "q4_1" ? 20 : 24;
  const nb = K / 32;
  const value = new Float64Array(rows * N);
  const size = new Float64Array(rows * N);
  for (let i = 0; i < rows; i++) {
    for (let b = 0; b < nb; b++) {
      const xs = x.subarray(i * K + 32 * b, i * K + 32 * b + 32);
      const amax = Math.max(...Array.from(xs, Math.abs));
      const d = f(amax / 127);
      const id = amax ? f(127 / amax) : 0;
      const q = Array.from(xs, (v) => even(f(v * id)));
      const s = half(f(d * q.reduce((a, c) => a + c, 0)));
      for (let n = 0; n < N; n++) {
        const o = (n * nb + b) * bytes;
        const dw = float16BitsToFloat32(w[o]! | (w[o + 1]! << 8));
        const mw = float16BitsToFloat32(w[o + 2]! | (w[o + 3]! << 8));
        const qh = dtype === "q5_1" ? (w[o + 4]! | (w[o + 5]! << 8) | (w[o + 6]! << 16) | (w[o + 7]! << 24)) >>> 0 : 0;
        const nibbles = o + (dtype === "q5_1" ? 8 : 4);
        let dot = 0;
        for (let j = 0; j < 32; j++) {
          const byte = w[nibbles + (j % 16)]!;
          const level = (j < 16 ? byte & 15 : byte >> 4) | (((qh >>> j) & 1) << 4);
          dot += level * q[j]!;
        }
        const terms = [dw * half(d) * dot, mw * s];
        value[i * N + n] += terms[0]! + terms[1]!;
        size[i * N + n] += Math.abs(terms[0]!) + Math.abs(terms[1]!);
      }
    }
  }
  return { value, size };
}

describe("resident GEMM over a stored weight (prefill)", () => {
  // [rows, N, K, first]: first skips that many of the weight's rows (a view into it)
  const shapes = [
    [16, 37, 256, 0],
    [17, 300, 512, 3],
    [64, 129, 768, 0],
    [130, 65, 256, 1],
    [200, 600, 512, 0],
  ] as const;
  for (const dtype of STORED) {
    it(`${dtype}: the same bits on 1, 2 and 3 threads, and as the float32 GEMM of the decoded weight`, () => {
      let seed = 7;
      let workerParts = 0;
      for (const [rows, N, K, first] of shapes) {
        const where = `${rows} x ${K} @ [${N}, ${K}]^T from row ${first}`;
        const x = randomF32(rows * K, seed++);
        const { data, values } = encode(dtype, randomF32((N + first) * K, seed++), seed++);
        const results = backends.map((be) => {
          const t = product(be, x, rows, K, data, dtype, N, first);
          expect(t.calls, where).toEqual([`gemm_${dtype}`]);
          workerParts += t.workerParts;
          return t.value;
        });
        expect(results[1], `${where}: 2 threads`).toEqual(results[0]);
        expect(results[2], `${where}: 3 threads`).toEqual(results[0]);
        // the whole weight decoded to float32 (JS), through the float32 GEMM on the same backend
        const float = product(backends[0]!, x, rows, K, values, "float32", N, first);
        expect(float.calls, where).toEqual(["gemm"]);
        expect(results[0], `${where}: float32 GEMM of the decoded weight`).toEqual(float.value);
        // and near float64 (the comparisons above cannot both be wrong the same way)
        for (const [i, n] of [
          [0, 0],
          [rows - 1, N - 1],
          [rows >> 1, N >> 1],
        ] as const) {
          let want = 0;
          for (let k = 0; k < K; k++) want += x[i * K + k]! * values[(first + n) * K + k]!;
          expect(Math.abs(results[0]![i * N + n]! - want), `${where}: [${i}, ${n}]`).toBeLessThan(2e-5 * Math.sqrt(K));
        }
      }
      // worker threads took parts (the caller runs parts itself that no worker starts in time)
      expect(workerParts).toBeGreaterThan(0);
    });
  }

  it("float16 subnormals, infinities and NaNs, and subnormal block scales, decode as the JS decoders do", () => {
    const [rows, N, K] = [16, 40, 256];
    const x = randomF32(rows * K, 5);
    const be = backends[1]!;
    // float16 weights with every kind of value: subnormals, zeros of both signs, infinity, NaN
    const halves = Uint16Array.from(randomF32(N * K, 6), (v, i) =>
      i % 7 === 0 ? Math.floor((v + 1) * 512) | (i % 2 ? 0x8000 : 0) : float32ToFloat16Bits(v),
    );
    halves[5 * K + 3] = 0x7c00;
    halves[9 * K + 1] = 0x7e01;
    const cases: [Stored, Uint8Array | Uint16Array][] = [["float16", halves]];
    for (const dtype of ["q8_0", "q4_0", "q6_k"] as const) {
      cases.push([
        dtype,
        encode(
          dtype,
          randomF32(N * K, 8).map((v) => v * 2e-4),
          0,
        ).data,
      ]);
    }
    for (const [dtype, data] of cases) {
      const values = new Float32Array(N * K);
      if (dtype === "float16") halves.forEach((h, i) => (values[i] = float16BitsToFloat32(h)));
      else dequantizeBlocks(dtype as "q8_0", data as Uint8Array, 0, N * K, values, 0);
      const got = product(be, x, rows, K, data, dtype, N, 0);
      expect(got.calls, dtype).toEqual([`gemm_${dtype}`]);
      const want = product(be, x, rows, K, values, "float32", N, 0).value;
      expect(want.some((v) => v !== 0 && Number.isFinite(v))).toBe(true);
      expect(got.value, dtype).toEqual(want);
    }
  });

  // activationRounding "ggml": the activations are rounded as llama.cpp rounds them (float16,
  // bfloat16, Q8_0 blocks: in WebAssembly; Q8_K for the K-quants: in JS) before the same GEMM, so
  // the product is the float32 GEMM of roundActivationsLikeGgml's rows and the decoded weight, bit
  // for bit. The activations hold the cases a rounding can get wrong: ties (to even), float16
  // subnormals and values that round to zero, Q8_0 blocks that are all zero, tiny (a float16
  // subnormal scale) or huge.
  function awkwardActivations(rows: number, K: number, seed: number): Float32Array {
    const x = randomF32(rows * K, seed);
    const specials = [
      1 + 2 ** -11,
      1 + 3 * 2 ** -11,
      -(2 + 2 ** -10),
      1 + 2 ** -8,
      1 + 3 * 2 ** -8,
      3e-6,
      -4e-7,
      2 ** -25,
      3 * 2 ** -26,
      1e-9,
      0,
      -0,
      6e4,
      65504,
    ];
    for (let i = 0; i < rows * K; i += 7) x[i] = specials[(i / 7) % specials.length]!;
    for (let j = 0; j < 32; j++) {
      x[32 + j] = 0; // an all-zero block
      x[64 + j] = (j - 16) * 1e-7; // a float16-subnormal scale
      x[96 + j] = j === 0 ? 127 : (j % 2 ? 1 : -1) * (j + 0.5); // x * 127 / amax lands on halves: ties
      x[128 + j] = (j - 10) * 3e3; // large
    }
    return x;
  }
  for (const dtype of STORED) {
    const expected =
      dtype === "q4_1" || dtype === "q5_1" ? "ggml's Q8_1 dot product in float64" : "the float32 GEMM of the rounded activations";
    it(`${dtype}, ggml rounding: ${expected}, the same bits on 1, 2 and 3 threads`, () => {
      let seed = 70;
      for (const [rows, N, K] of [
        [16, 40, 256],
        [33, 129, 512],
        [100, 300, 768],
      ] as const) {
        const where = `${rows} x ${K} @ [${N}, ${K}]^T`;
        const x = awkwardActivations(rows, K, seed++);
        const { data, values } = encode(dtype, randomF32(N * K, seed++), seed++);
        const results = ggml.map((be) => {
          const t = product(be, x, rows, K, data, dtype, N, 0);
          const rounds =
            dtype === "float16" || dtype === "bfloat16"
              ? [dtype === "float16" ? "round_f16" : "round_bf16"]
              : QUANT_BLOCKS[dtype].elements === 256
                ? []
                : ["round_q8_0"];
          // the 32-value block types: the int8 GEMM (activations quantized to Q8_0 in tiles, matmul_stored_q8.test.ts)
          const int8 = INT8_GEMM.has(dtype)
            ? [`gemm_q8_${dtype}`, `quantize_tiles_${dtype}`]
            : INT8_GEMM_K.has(dtype)
              ? [`gemm_q8k_${dtype}`, `interleave_${dtype}`, "quantize_q8_k"]
              : null;
          expect(t.calls.sort(), where).toEqual((int8 ?? [`gemm_${dtype}`, ...rounds]).sort());
          return t.value;
        });
        expect(results[1], `${where}: 2 threads`).toEqual(results[0]);
        expect(results[2], `${where}: 3 threads`).toEqual(results[0]);
        const rounded = roundActivationsLikeGgml(x, rows, K, dtype);
        expect(rounded, "the activations are changed by rounding").not.toEqual(x);
        if (dtype === "q4_1" || dtype === "q5_1") {
          // their min meets the Q8_1 blocks' own float16 sum: held to ggml's formula in float64
          const want = ggmlQ8_1Products(x, rows, K, data as Uint8Array, dtype, N);
          for (let i = 0; i < rows * N; i++) {
            // (blocks of |x| near 65504 overflow s's float16 to infinity, in llama.cpp too)
            if (!Number.isFinite(want.value[i]!)) expect(results[0]![i], `${where}: ${i}`).toBe(want.value[i]);
            else expect(Math.abs(results[0]![i]! - want.value[i]!), `${where}: ${i}`).toBeLessThanOrEqual(1e-6 * want.size[i]! + 1e-30);
          }
          continue;
        }
        const want = product(backends[0]!, rounded, rows, K, values, "float32", N, 0).value;
        if (INT8_GEMM.has(dtype) || INT8_GEMM_K.has(dtype)) {
          // integer block sums, then float32 per block: within 2e-6 of the products' magnitudes
          for (let i = 0; i < rows; i++)
            for (let n = 0; n < N; n++) {
              let size = 0;
              for (let k = 0; k < K; k++) size += Math.abs(rounded[i * K + k]! * values[n * K + k]!);
              const at = `${where}: [${i}, ${n}]`;
              expect(Math.abs(results[0]![i * N + n]! - want[i * N + n]!), at).toBeLessThanOrEqual(2e-6 * size + 1e-30);
            }
          continue;
        }
        expect(results[0], where).toEqual(want);
      }
    });
  }
});
