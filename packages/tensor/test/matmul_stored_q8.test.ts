import "./relaxed-simd-flag.js";
import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import type { CpuBuffer } from "../src/cpu/buffer.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../src/cpu/half.js";
import { q8_1MinCorrections, roundActivationsLikeGgml } from "../src/cpu/kernels/ggml_rounding.js";
import { hasRelaxedSimd } from "../src/cpu/resident/modules.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { QUANT_BLOCKS } from "../src/dtype.js";
import { dequantizeBlocks, quantizeBlocks } from "../src/quant/index.js";
import { randomF32, randomLatticeBlocks, randomScaleMinBlocks } from "./cpu-helpers.js";

// Decoding over Q8_0 / Q4_0 weights with activationRounding "ggml": the activation rows are
// quantized to Q8_0 in WebAssembly and the dot products are int8 ones (wasm/gemv_q8_resident_module.ts).
// They must give what rounding the activations with roundActivationsLikeGgml and running the float
// kernel gives, up to summation order; the same bits on 1, 2 and 3 threads, and with relaxed SIMD's
// int8 dot product or without it. minWorkPerThread 0 splits even the smallest products.

const variants = hasRelaxedSimd() ? [false, true] : [false];
const ggml = variants.flatMap((relaxedSimd) =>
  [1, 2, 3].map((threads) => ({
    relaxedSimd,
    threads,
    be: new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd, activationRounding: "ggml" }),
  })),
);
// unfused float kernels, as ggml[0] (relaxedSimd false): the prefill fallback below compares bits
const plain = new CpuBackend({ threads: 1, relaxedSimd: false });
afterAll(() => {
  for (const { be } of ggml) be.close();
  plain.close();
});

/** Which resident kernels fn called, and how many parts worker threads took. */
function traced<T>(fn: () => T): { value: T; calls: string[]; workerParts: number } {
  const before = new Map(residentStats.calls);
  const workerParts = residentStats.workerParts;
  const value = fn();
  const calls = [...residentStats.calls].filter(([name, n]) => n !== (before.get(name) ?? 0)).map(([name]) => name);
  return { value, calls, workerParts: residentStats.workerParts - workerParts };
}

type Int8DType = "q8_0" | "q4_0" | "q5_0" | "q4_1" | "q5_1" | "q6_k" | "q3_k" | "q2_k" | "iq4_nl";

function matmul(be: CpuBackend, x: Float32Array, rows: number, K: number, w: Uint8Array, dtype: Int8DType, N: number, first: number) {
  const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
  const b: StridedView = { buffer: be.upload(w, dtype) as CpuBuffer, shape: [K, N], strides: [1, K], offset: first * K };
  return traced(() => be.readSync(be.matmul(a, b)) as Float32Array);
}

/**
 * Activations with the blocks that test the rounding: most random, some tiny (float16-subnormal
 * scales), some all zero, some with one value far larger than the rest.
 */
function activations(rows: number, K: number, seed: number): Float32Array {
  const x = randomF32(rows * K, seed, 4);
  for (let blk = 0; blk < (rows * K) / 32; blk++) {
    const kind = blk % 7;
    for (let j = blk * 32; j < blk * 32 + 32; j++) {
      if (kind === 2) x[j]! *= 1e-3; // scale about 3e-5: a float16 subnormal
      if (kind === 4) x[j]! *= 2e-7; // deep in the subnormals
      if (kind === 5) x[j] = 0;
    }
    if (kind === 6) x[blk * 32 + 5] = 300;
  }
  // Q8_K takes super-blocks of 256: one all zero, one whose largest magnitude comes twice, with both signs
  if (K % 256 === 0 && rows * K >= 1024) {
    x.fill(0, 256, 512);
    x[520] = -40;
    x[700] = 40;
  }
  return x;
}

/**
 * `got` (the int8 kernels' [rows, N]) against the float kernel on the activations rounded in JS
 * (2e-6 of the products' magnitudes) and against the exact sum of those products (1e-6); Q4_1 /
 * Q5_1 (Q8_1 activations): plus each block's min times the part of its min term the rounded
 * activations leave out.
 */
function expectRoundedProduct(
  got: Float32Array,
  x: Float32Array,
  shape: { rows: number; N: number; K: number; first: number },
  data: Uint8Array,
  dtype: Int8DType,
  values: Float32Array,
  where: string,
): void {
  const { rows, N, K, first } = shape;
  const { bytes } = QUANT_BLOCKS[dtype];
  const rounded = roundActivationsLikeGgml(x, rows, K, dtype);
  const reference = matmul(plain, rounded, rows, K, data, dtype, N, first).value;
  const withMin = dtype === "q4_1" || dtype === "q5_1";
  const corrections = withMin ? q8_1MinCorrections(x, rows, K) : null;
  const minTerm = (i: number, n: number): number => {
    if (corrections === null) return 0;
    let sum = 0;
    for (let j = 0; j < K / 32; j++) {
      const at = ((first + n) * (K / 32) + j) * bytes + 2;
      sum += float16BitsToFloat32(data[at]! | (data[at + 1]! << 8)) * corrections[i * (K / 32) + j]!;
    }
    return sum;
  };
  for (let i = 0; i < rows; i++) {
    for (let n = 0; n < N; n++) {
      let exact = 0;
      let size = 0;
      for (let k = 0; k < K; k++) {
        const p = rounded[i * K + k]! * values[(first + n) * K + k]!;
        exact += p;
        size += Math.abs(p);
      }
      const at = `${where}: [${i}, ${n}]`;
      const min = minTerm(i, n);
      expect(Math.abs(got[i * N + n]! - (reference[i * N + n]! + min)), at).toBeLessThanOrEqual(2e-6 * size + 1e-30);
      expect(Math.abs(got[i * N + n]! - (exact + min)), at).toBeLessThanOrEqual(1e-6 * size + 1e-30);
    }
  }
}

/**
 * For each [rows, N, K, first] shape: x (activations()) times a quantized random weight on every
 * "ggml" backend, which must call exactly `kernels` and give the same bits on all of them, and
 * expectRoundedProduct of the result. Some part must have run on a worker.
 */
function checkInt8Products(dtype: Int8DType, shapes: readonly (readonly number[])[], seed: number, kernels: string[]): void {
  const { elements, bytes } = QUANT_BLOCKS[dtype];
  let workerParts = 0;
  for (const [rows, N, K, first] of shapes as [number, number, number, number][]) {
    const where = `${rows} x ${K} @ [${N}, ${K}]^T from row ${first}`;
    const x = activations(rows, K, seed++);
    const w = randomF32((N + first) * K, seed++);
    const data = new Uint8Array(((N + first) * K * bytes) / elements);
    quantizeBlocks(dtype, w, 0, w.length, data, 0);
    const values = new Float32Array(w.length);
    dequantizeBlocks(dtype, data, 0, w.length, values, 0);
    const results = ggml.map(({ be, threads, relaxedSimd }) => {
      const t = matmul(be, x, rows, K, data, dtype, N, first);
      expect(t.calls.sort(), `${where}, ${threads} threads, relaxed ${relaxedSimd}`).toEqual([...kernels].sort());
      workerParts += t.workerParts;
      return t.value;
    });
    ggml.forEach(({ threads, relaxedSimd }, j) => {
      expect(results[j], `${where}: ${threads} threads, relaxed ${relaxedSimd}`).toEqual(results[0]);
    });
    expectRoundedProduct(results[0]!, x, { rows, N, K, first }, data, dtype, values, where);
  }
  expect(workerParts).toBeGreaterThan(0);
}

type SuperBlockDType = "q4_k" | "q5_k" | "q6_k" | "q3_k" | "q2_k" | "iq4_xs" | LatticeBlocks;
type LatticeBlocks = Parameters<typeof randomLatticeBlocks>[0];

/**
 * checkInt8Products for the super-block types (Q8_K activations): Q4_K and Q5_K as random
 * super-blocks with d and dmin of a real model's size (every bit pattern), Q6_K, Q3_K, Q2_K and
 * IQ4_XS quantized from random weights, the lattice types as random blocks with a sane d; within 1e-6 of
 * the exact sum of the rounded activations times the blocks' values.
 */
function checkSuperBlockProducts(dtype: SuperBlockDType, shapes: readonly (readonly number[])[], seed: number, kernels: string[]): void {
  let workerParts = 0;
  for (const [rows, N, K] of shapes as [number, number, number][]) {
    const where = `${rows} x ${K} @ [${N}, ${K}]^T`;
    const x = activations(rows, K, seed++);
    const blocks = (N * K) / 256;
    let data: Uint8Array;
    if (dtype === "q6_k" || dtype === "q3_k" || dtype === "q2_k" || dtype === "iq4_xs") {
      data = new Uint8Array(blocks * QUANT_BLOCKS[dtype].bytes);
      quantizeBlocks(dtype, randomF32(N * K, seed), 0, N * K, data, 0);
    } else if (dtype === "q4_k" || dtype === "q5_k") data = randomScaleMinBlocks(dtype, blocks, seed);
    else data = randomLatticeBlocks(dtype, blocks, seed);
    seed += 2;
    const values = new Float32Array(N * K);
    dequantizeBlocks(dtype, data, 0, N * K, values, 0);
    const results = ggml.map(({ be, threads, relaxedSimd }) => {
      const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
      const b: StridedView = { buffer: be.upload(data, dtype) as CpuBuffer, shape: [K, N], strides: [1, K], offset: 0 };
      const t = traced(() => be.readSync(be.matmul(a, b)) as Float32Array);
      expect(t.calls.sort(), `${where}, ${threads} threads, relaxed ${relaxedSimd}`).toEqual([...kernels].sort());
      workerParts += t.workerParts;
      return t.value;
    });
    for (const r of results) expect(r, where).toEqual(results[0]);
    const rounded = roundActivationsLikeGgml(x, rows, K, dtype);
    for (let i = 0; i < rows; i++) {
      for (let n = 0; n < N; n++) {
        let exact = 0;
        let size = 0;
        for (let k = 0; k < K; k++) {
          const p = rounded[i * K + k]! * values[n * K + k]!;
          exact += p;
          size += Math.abs(p);
        }
        expect(Math.abs(results[0]![i * N + n]! - exact), `${where}: [${i}, ${n}]`).toBeLessThanOrEqual(1e-6 * size + 1e-30);
      }
    }
  }
  expect(workerParts).toBeGreaterThan(0);
}

describe("int8 GEMV over Q8_0 / Q4_0 / Q5_0 / Q4_1 / Q5_1 / IQ4_NL / Q6_K / Q4_K / Q5_K / Q3_K / IQ4_XS / lattice weights (activationRounding ggml, decoding)", () => {
  // [rows, N, K, first]: K multiples of 32 but mostly not of 128 (blocks left over after groups of four)
  const shapes32 = [
    [1, 1, 32, 0],
    [1, 37, 96, 0],
    [2, 40, 64, 3],
    [3, 300, 800, 0],
    [2, 70, 768, 5],
    [15, 129, 224, 0],
    [7, 50, 320, 1],
    // large enough that each thread's part outlasts a worker's wake-up
    [2, 2048, 512, 0],
  ] as const;
  const shapes256 = [
    [1, 1, 256, 0],
    [1, 37, 256, 0],
    [3, 70, 512, 2],
    [15, 129, 768, 0],
    [2, 2048, 512, 0],
  ] as const;
  for (const dtype of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "q6_k", "iq4_nl"] as const) {
    const shapes = dtype === "q6_k" ? shapes256 : shapes32;
    const quantizer = dtype === "q6_k" ? "quantize_q8_k" : "quantize_q8_0";
    it(`${dtype}: rounded activations times the weight, up to summation order; the same bits on 1-3 threads, relaxed SIMD or not`, () => {
      // finite block scales (every real file's) take the kernels that skip the infinity / NaN decoding
      const gemv = dtype === "q6_k" || dtype === "iq4_nl" ? `gemv_${dtype}` : `gemv_${dtype}_finite`;
      checkInt8Products(dtype, shapes, 71, [gemv, quantizer]);
    });
  }

  for (const dtype of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1"] as const) {
    it(`${dtype}: a block scale (or min) of infinity or NaN takes the general kernel; every other output is the finite kernel's, bit for bit`, () => {
      const [rows, N, K] = [3, 40, 256];
      const { bytes, elements } = QUANT_BLOCKS[dtype];
      const w = new Uint8Array(((N * K) / elements) * bytes);
      quantizeBlocks(dtype, randomF32(N * K, 5, 1), 0, N * K, w, 0);
      const x = activations(rows, K, 6);
      for (const { be, threads, relaxedSimd } of ggml) {
        const where = `${dtype}, ${threads} threads, relaxed ${relaxedSimd}`;
        const finite = matmul(be, x, rows, K, w, dtype, N, 0);
        expect(finite.calls, where).toContain(`gemv_${dtype}_finite`);
        // row 7's block 2: its scale infinite; row 19's block 5: its scale (Q4_1 / Q5_1: its min) a NaN
        const special = w.slice();
        const at = (row: number, block: number) => (row * (K / elements) + block) * bytes;
        special[at(7, 2) + 1] = 0x7c;
        special[at(7, 2)] = 0x00;
        const nanAt = at(19, 5) + (dtype === "q4_1" || dtype === "q5_1" ? 2 : 0);
        special[nanAt + 1] = 0x7e;
        const general = matmul(be, x, rows, K, special, dtype, N, 0);
        expect(general.calls, where).toContain(`gemv_${dtype}`);
        expect(general.calls, where).not.toContain(`gemv_${dtype}_finite`);
        for (let r = 0; r < rows; r++) {
          for (let n = 0; n < N; n++) {
            const [got, want] = [general.value[r * N + n]!, finite.value[r * N + n]!];
            if (n === 7 || n === 19) expect(Number.isFinite(got), `${where}: output ${r}, ${n} (a non-finite scale) is ${got}`).toBe(false);
            else if (!Object.is(got, want)) expect.fail(`${where}: output ${r}, ${n}: general kernel ${got}, finite kernel ${want}`);
          }
        }
      }
    });
  }

  // Q4_K, Q5_K (random super-blocks with d and dmin of a real model's size: every bit pattern), Q3_K
  // Q2_K and IQ4_XS (quantized random weights), the lattice types IQ1-IQ3 (random blocks, sane d)
  it.each(["q4_k", "q5_k", "q3_k", "q2_k", "iq4_xs", "iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"] as const)(
    "%s: Q8_K activations times the blocks, up to summation order; the same bits on 1-3 threads",
    (dtype) => checkSuperBlockProducts(dtype, shapes256, 120, [`gemv_${dtype}`, "quantize_q8_k"]),
  );

  it("non-finite activations give non-finite outputs, as the rounded float path does", () => {
    const K = 256;
    for (const dtype of ["q8_0", "q6_k"] as const) {
      const { elements, bytes } = QUANT_BLOCKS[dtype];
      const w = randomF32(3 * K, 9);
      const data = new Uint8Array((3 * K * bytes) / elements);
      quantizeBlocks(dtype, w, 0, w.length, data, 0);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
        const x = randomF32(K, 10);
        x[40] = bad;
        const got = matmul(ggml[0]!.be, x, 1, K, data, dtype, 3, 0).value;
        expect(
          [...got].every((v) => !Number.isFinite(v)),
          `${dtype} ${bad}`,
        ).toBe(true);
      }
    }
  });

  it("falls back to rounding then the float kernel where no int8 kernel applies (prefill rows over Q2_K)", () => {
    const [rows, N, K] = [16, 20, 256];
    const x = randomF32(rows * K, 12);
    const w = randomF32(N * K, 13);
    const data = new Uint8Array((N * K * QUANT_BLOCKS.q2_k.bytes) / 256);
    quantizeBlocks("q2_k", w, 0, w.length, data, 0);
    const t = matmul(ggml[0]!.be, x, rows, K, data, "q2_k", N, 0);
    expect(t.calls).not.toContain("quantize_q8_k");
    const reference = matmul(plain, roundActivationsLikeGgml(x, rows, K, "q2_k"), rows, K, data, "q2_k", N, 0).value;
    expect(t.value).toEqual(reference);
  });
});

describe("int8 GEMM over Q8_0 / Q4_0 / Q5_0 / Q4_1 / Q5_1 / IQ4_NL / Q4_K / Q5_K / Q6_K / Q3_K / IQ4_XS (activationRounding ggml, prefill: 16 rows and more)", () => {
  // [rows, N, K, first]: rows past whole tiles of four, columns past whole groups of four and eight
  const shapes = [
    [16, 4, 32, 0],
    [17, 5, 64, 1],
    [19, 37, 96, 0],
    [22, 70, 768, 3],
    [33, 129, 224, 0],
    [128, 50, 320, 2],
    // large enough that each thread's part outlasts a worker's wake-up
    [64, 1024, 512, 0],
  ] as const;
  for (const dtype of ["q8_0", "q4_0", "q5_0", "q4_1", "q5_1", "iq4_nl"] as const) {
    it(`${dtype}: rounded activations times the weight, up to summation order; the same bits on 1-3 threads, relaxed SIMD or not`, () => {
      checkInt8Products(dtype, shapes, 301, [`gemm_q8_${dtype}`, `quantize_tiles_${dtype}`]);
    });
  }

  // Q4_K / Q5_K / Q6_K / Q3_K / IQ4_XS: Q8_K activations interleaved into tiles, eight columns a panel (wasm/gemm_q8k_resident_module.ts)
  it.each(["q4_k", "q5_k", "q6_k", "q3_k", "iq4_xs"] as const)(
    "%s: Q8_K activations times the blocks, up to summation order; the same bits on 1-3 threads, relaxed SIMD or not",
    (dtype) => {
      const shapes256 = [
        [16, 4, 256],
        [17, 5, 512],
        [19, 37, 768],
        [33, 70, 256],
        [64, 1024, 512],
      ] as const;
      checkSuperBlockProducts(dtype, shapes256, 401, [`gemm_q8k_${dtype}`, `interleave_${dtype}`, "quantize_q8_k"]);
    },
  );

  it("non-finite activations give non-finite outputs in their rows only", () => {
    const [rows, N, K] = [18, 9, 64];
    const w = randomF32(N * K, 19);
    const data = new Uint8Array((N * K * 18) / 32);
    quantizeBlocks("q4_0", w, 0, w.length, data, 0);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY]) {
      const x = randomF32(rows * K, 20);
      x[5 * K + 40] = bad;
      const got = matmul(ggml[0]!.be, x, rows, K, data, "q4_0", N, 0).value;
      for (let i = 0; i < rows; i++) {
        const finite = [...got.subarray(i * N, (i + 1) * N)].map((v) => Number.isFinite(v));
        expect(finite, `${bad}: row ${i}`).toEqual(new Array<boolean>(N).fill(i !== 5));
      }
    }
  });
});

describe("roundActivationsLikeGgml to float16", () => {
  it("gives the float16 converters' value for every kind of float32 (normals, ties, subnormals, overflow, NaN)", () => {
    const values = [...randomF32(20000, 3, 200)];
    for (let e = -30; e <= 17; e++)
      for (const m of [1, 1.5, 1 + 2 ** -11, 1 + 3 * 2 ** -11, 1.99951171875, 1.9997]) values.push(m * 2 ** e, -m * 2 ** e);
    values.push(
      0,
      -0,
      65504,
      65519.99,
      65520,
      65536,
      1e9,
      -1e9,
      2 ** -14,
      2 ** -24,
      2 ** -25,
      3 * 2 ** -26,
      Number.POSITIVE_INFINITY,
      Number.NEGATIVE_INFINITY,
      Number.NaN,
    );
    const x = Float32Array.from(values);
    const got = roundActivationsLikeGgml(x, 1, x.length, "float16");
    for (let i = 0; i < x.length; i++) {
      const want = float16BitsToFloat32(float32ToFloat16Bits(x[i]!));
      expect(Object.is(got[i], Math.fround(want)) || (Number.isNaN(want) && Number.isNaN(got[i]!)), `${x[i]}: ${got[i]} vs ${want}`).toBe(
        true,
      );
    }
  });
});
