import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { CpuBuffer } from "../src/cpu/buffer.js";
import { float16BitsToFloat32, float32ToBfloat16Bits, bfloat16BitsToFloat32, float32ToFloat16Bits } from "../src/cpu/half.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { gemvStoredWasm } from "../src/cpu/wasm/gemv_stored.js";
import { QUANT_BLOCKS, type QuantizedDType } from "../src/dtype.js";
import { dequantizeBlocks, quantizeBlocks } from "../src/quant/index.js";
import { isLattice, LATTICE_DTYPES } from "../src/cpu/wasm/lattice_code.js";
import { randomF32, randomLatticeBlocks, randomScaleMinBlocks } from "./cpu-helpers.js";

// Decoding over a weight kept as stored (float16, bfloat16, Q8_0, Q4_0, Q6_K) in the resident heap:
// the kernel reads the weight's blocks in place, threads take ranges of its rows. Each product must
// be the same bits on 1, 2 and 3 threads, the same bits as the staged kernel (wasm/gemv_stored.ts,
// which copies the weight into its own memory), and near x @ W'^T in float64 with W' the values W holds.
// minWorkPerThread 0 splits even the smallest products. Plain SIMD: with relaxed SIMD the float16
// and bfloat16 kernels fuse each multiply-add, where the staged twin does not (cpu-relaxed-simd.test.ts
// holds the fused ones to their order of operations).

const backends = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0, relaxedSimd: false }));
afterAll(() => {
  for (const b of backends) b.close();
});

/** The stored types whose resident kernel has a staged twin (and the same bits as it). */
type Stored = "float16" | "bfloat16" | "q8_0" | "q4_0" | "q6_k";

/** W [N, K] encoded as `dtype` (host array) and the float32 values it then holds. */
function encode(dtype: Stored, w: Float32Array): { data: Uint8Array | Uint16Array; values: Float32Array } {
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
  const data = new Uint8Array((w.length / elements) * bytes);
  quantizeBlocks(dtype, w, 0, w.length, data, 0);
  dequantizeBlocks(dtype, data, 0, w.length, values, 0);
  return { data, values };
}

/** `w` quantized to `dtype`'s blocks. */
function quantized(dtype: QuantizedDType, w: Float32Array): Uint8Array {
  const { elements, bytes } = QUANT_BLOCKS[dtype];
  const data = new Uint8Array((w.length / elements) * bytes);
  quantizeBlocks(dtype, w, 0, w.length, data, 0);
  return data;
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

/**
 * Worker parts seen: `seen`, or if none, those of up to 20 more runs of the last (largest) product
 * on two threads. On a busy machine the caller can run every part of a product before its worker
 * wakes (it runs any part no worker has started), so one product shows no worker part by chance;
 * twenty in a row would mean the workers never take part.
 */
function untilWorkerTakesPart(seen: number, again: () => number): number {
  for (let tries = 0; seen === 0 && tries < 20; tries++) seen += again();
  return seen;
}

const KERNELS: Record<Stored, string[]> = {
  // activations below 2^16, scaled by 2^112 first: see the test of both below
  float16: ["scale_2p112", "gemv_f16_scaled"],
  bfloat16: ["gemv_bf16"],
  q8_0: ["gemv_q8_0"],
  q4_0: ["gemv_q4_0"],
  q6_k: ["gemv_q6_k"],
};

describe("resident matmul over a stored weight (decoding)", () => {
  // [rows, N, K, first]: first skips that many of the weight's rows (a view into it)
  const shapes = [
    [1, 1, 256, 0],
    [1, 37, 256, 0],
    [3, 300, 512, 0],
    [2, 70, 768, 5],
    [15, 129, 256, 0],
    [1, 1030, 256, 3],
    // large enough that each thread's part outlasts a worker's wake-up: without it the caller could
    // run every part itself on a busy machine and the worker check below would not see one (it
    // failed so once for q4_0 with the tests of three packages running on two cores)
    [2, 2048, 512, 0],
  ] as const;
  for (const dtype of ["float16", "bfloat16", "q8_0", "q4_0", "q6_k"] as const) {
    it(`${dtype}: the same bits on 1, 2 and 3 threads and as the staged kernel; near float64`, () => {
      let seed = 11;
      let workerParts = 0;
      let again = (): number => 0;
      for (const [rows, N, K, first] of shapes) {
        const where = `${rows} x ${K} @ [${N}, ${K}]^T from row ${first}`;
        const x = randomF32(rows * K, seed++);
        const { data, values } = encode(dtype, randomF32((N + first) * K, seed++));
        const results = backends.map((be) => {
          const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
          const b = weightView(be.upload(data, dtype) as CpuBuffer, K, N, first);
          const run = () => traced(() => be.readSync(be.matmul(a, b)) as Float32Array);
          const t = run();
          expect(t.calls, where).toEqual(KERNELS[dtype]);
          workerParts += t.workerParts;
          if (be === backends[1]) again = () => run().workerParts;
          return t.value;
        });
        expect(results[1], `${where}: 2 threads`).toEqual(results[0]);
        expect(results[2], `${where}: 3 threads`).toEqual(results[0]);
        // the staged kernel, on a copy of the weight outside the heap
        const staged = new Float32Array(rows * N);
        expect(gemvStoredWasm(rows, N, K, x, weightView(new CpuBuffer(data.slice(), dtype), K, N, first), staged)).toBe(true);
        expect(results[0], `${where}: staged`).toEqual(staged);
        for (let i = 0; i < rows; i++) {
          for (let n = 0; n < N; n++) {
            let want = 0;
            for (let k = 0; k < K; k++) want += x[i * K + k]! * values[(first + n) * K + k]!;
            expect(Math.abs(results[0]![i * N + n]! - want), `${where}: [${i}, ${n}]`).toBeLessThan(1e-5 * Math.sqrt(K));
          }
        }
      }
      // worker threads took parts (the caller runs parts itself that no worker starts in time)
      expect(untilWorkerTakesPart(workerParts, again)).toBeGreaterThan(0);
    });
  }

  it("float16, bfloat16: rows whose length is not a multiple of 16 (the unrolled loop's rest) give the staged kernel's bits", () => {
    let seed = 90;
    for (const dtype of ["float16", "bfloat16"] as const) {
      for (const [rows, N, K] of [
        [1, 5, 4],
        [2, 33, 100],
        [3, 17, 108],
      ] as const) {
        const x = randomF32(rows * K, seed++);
        const { data } = encode(dtype, randomF32(N * K, seed++));
        const got = backends.map((be) => {
          const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
          return be.readSync(be.matmul(a, weightView(be.upload(data, dtype) as CpuBuffer, K, N, 0))) as Float32Array;
        });
        const staged = new Float32Array(rows * N);
        expect(gemvStoredWasm(rows, N, K, x, weightView(new CpuBuffer(data.slice(), dtype), K, N, 0), staged)).toBe(true);
        for (const g of got) expect(g, `${dtype} ${rows} x ${K} @ [${N}, ${K}]^T`).toEqual(staged);
      }
    }
  });

  it("float16: activations times 2^112 give gemv_f16's bits at the edges of both ranges; any |x| >= 2^16 (or NaN) takes gemv_f16", () => {
    // weights from half subnormals (2^-24) to 65504, activations from 1e-38 (a float32 subnormal
    // at 2^-130) to just under 2^16, and the products' subnormals and large sums among them
    const K = 64;
    const N = 9;
    const w = new Float32Array(N * K);
    const edges = [2 ** -24, 3 * 2 ** -24, 6.1e-5, 2 ** -14, 1e-3, 1, 3.25, 1000, 65504];
    for (let i = 0; i < w.length; i++) w[i] = (i % 3 === 0 ? -1 : 1) * edges[(i * 7) % edges.length]!;
    const { data } = encode("float16", w);
    const small = [1e-38, 2 ** -130, 1e-20, 1e-5, 0, -0, 0.5, 777, 65535.996];
    for (const [x, kernelName] of [
      [Float32Array.from({ length: K }, (_, i) => (i % 2 ? -1 : 1) * small[i % small.length]!), "gemv_f16_scaled"],
      [Float32Array.from({ length: K }, (_, i) => (i === 7 ? 65536 : i / 10)), "gemv_f16"],
      [Float32Array.from({ length: K }, (_, i) => (i === 3 ? Number.NaN : i / 10)), "gemv_f16"],
      [Float32Array.from({ length: K }, (_, i) => (i === 5 ? -Infinity : i / 10)), "gemv_f16"],
    ] as const) {
      const staged = new Float32Array(N);
      expect(gemvStoredWasm(1, N, K, x, weightView(new CpuBuffer(data.slice(), "float16"), K, N, 0), staged)).toBe(true);
      for (const be of backends) {
        const a: StridedView = { buffer: be.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
        const t = traced(() => be.readSync(be.matmul(a, weightView(be.upload(data, "float16") as CpuBuffer, K, N, 0))) as Float32Array);
        expect(t.calls).toEqual(["scale_2p112", kernelName]);
        expect(t.value, kernelName).toEqual(staged);
      }
    }
  });

  // Q4_K, Q5_K (random super-blocks with d and dmin of a real model's size: every bit pattern) and
  // Q4_1, Q5_1, Q5_0, Q2_K, Q3_K, IQ4_NL, IQ4_XS (quantized random weights) and the IQ1-IQ3 lattice
  // types (random blocks with sane scales). Their kernels round otherwise than the JS decoder (and
  // have no staged twin), so they are held to float64 on the decoded values, not to bits.
  it.each(["q4_k", "q5_k", "q4_1", "q5_1", "q5_0", "q2_k", "q3_k", "iq4_nl", "iq4_xs", ...LATTICE_DTYPES] as const)(
    "%s: the same bits on 1, 2 and 3 threads; near float64 on the values the blocks hold",
    (dtype) => {
      let seed = 40;
      let workerParts = 0;
      let again = (): number => 0;
      for (const [rows, N, K] of [
        [1, 1, 256],
        [1, 300, 768],
        [4, 70, 512],
        // large enough that each thread's part outlasts a worker's wake-up: without it the caller
        // could run every part itself on a busy machine and the worker check below would not see one
        [2, 2048, 512],
      ] as const) {
        const where = `${rows} x ${K} @ [${N}, ${K}]^T`;
        const x = randomF32(rows * K, seed++);
        const data =
          dtype === "q4_k" || dtype === "q5_k"
            ? randomScaleMinBlocks(dtype, N * (K / 256), seed)
            : isLattice(dtype)
              ? randomLatticeBlocks(dtype, N * (K / 256), seed)
              : quantized(dtype, randomF32(N * K, seed));
        seed += 2;
        const values = new Float32Array(N * K);
        dequantizeBlocks(dtype, data, 0, N * K, values, 0);
        const results = backends.map((be) => {
          const a: StridedView = { buffer: be.upload(x, "float32"), shape: [rows, K], strides: [K, 1], offset: 0 };
          const b = weightView(be.upload(data, dtype) as CpuBuffer, K, N, 0);
          const run = () => traced(() => be.readSync(be.matmul(a, b)) as Float32Array);
          const t = run();
          expect(t.calls, where).toEqual([`gemv_${dtype}`]);
          workerParts += t.workerParts;
          if (be === backends[1]) again = () => run().workerParts;
          return t.value;
        });
        expect(results[1], `${where}: 2 threads`).toEqual(results[0]);
        expect(results[2], `${where}: 3 threads`).toEqual(results[0]);
        for (let i = 0; i < rows; i++) {
          for (let n = 0; n < N; n++) {
            let want = 0;
            let size = 0;
            for (let k = 0; k < K; k++) {
              want += x[i * K + k]! * values[n * K + k]!;
              size += Math.abs(x[i * K + k]! * values[n * K + k]!);
            }
            expect(Math.abs(results[0]![i * N + n]! - want), `${where}: [${i}, ${n}]`).toBeLessThan(1e-6 * size + 1e-6);
          }
        }
      }
      expect(untilWorkerTakesPart(workerParts, again)).toBeGreaterThan(0);
    },
  );

  it("block scales that are float16 subnormals decode exactly (weights near 1e-4)", () => {
    const [N, K] = [40, 512];
    const x = randomF32(K, 5);
    const be = backends[1]!;
    for (const dtype of ["q8_0", "q4_0", "q6_k"] as const) {
      const { data } = encode(
        dtype,
        randomF32(N * K, 6).map((v) => v * 2e-4),
      );
      const a: StridedView = { buffer: be.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
      const got = be.readSync(be.matmul(a, weightView(be.upload(data, dtype) as CpuBuffer, K, N, 0))) as Float32Array;
      const staged = new Float32Array(N);
      gemvStoredWasm(1, N, K, x, weightView(new CpuBuffer(data.slice(), dtype), K, N, 0), staged);
      expect(staged.some((v) => v !== 0)).toBe(true);
      expect(got, dtype).toEqual(staged);
    }
  });

  it("a float16 scale of infinity or NaN decodes as the JS decoder does", () => {
    const K = 64;
    const { data } = encode("q8_0", randomF32(2 * K, 3));
    data[0] = 0x00;
    data[1] = 0x7c; // +inf scale, first block of row 0
    data[34 * 2] = 0x01;
    data[34 * 2 + 1] = 0x7e; // NaN scale, first block of row 1
    const x = randomF32(K, 4);
    const be = backends[0]!;
    const a: StridedView = { buffer: be.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
    const got = be.readSync(be.matmul(a, weightView(be.upload(data, "q8_0") as CpuBuffer, K, 2, 0))) as Float32Array;
    const staged = new Float32Array(2);
    gemvStoredWasm(1, 2, K, x, weightView(new CpuBuffer(data.slice(), "q8_0"), K, 2, 0), staged);
    expect(Number.isFinite(staged[0]!)).toBe(false);
    expect(got).toEqual(staged);
  });
});
