/**
 * Weights kept as stored on WebGPU: matmul (matrix-vector, small, tiled), take and cast read
 * float16, bfloat16, Q8_0, Q4_0, Q5_0, Q4_1 and Q5_1 weights as they are (and the K-quants, below), and
 * give the CPU backend's results.
 */
import { describe, expect, it } from "vitest";
import { cpuBackend, QUANT_BLOCKS, quantizeTensor, randn, Storage, Tensor, tensor, toBackend, type Backend } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

async function maxDiff(a: Tensor, b: Tensor): Promise<number> {
  const [x, y] = [await a.data(), await b.data()];
  expect(x.length).toBe(y.length);
  let worst = 0;
  for (let i = 0; i < x.length; i++) worst = Math.max(worst, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(worst) ? Infinity : worst;
}

async function stored(w: Tensor, dtype: "float16" | "bfloat16" | "q8_0" | "q4_0" | "q5_0" | "q4_1" | "q5_1"): Promise<Tensor> {
  return dtype === "float16" || dtype === "bfloat16" ? w.cast(dtype) : quantizeTensor(w, dtype);
}

/** x @ W^T with W kept as stored on the GPU equals the CPU backend's product within 1e-4 (w and x on the CPU; all disposed). */
async function expectCpuProduct(gpu: Backend, w: Tensor, x: Tensor): Promise<void> {
  const want = x.matmul(w.transpose(0, 1));
  const [wg, xg] = [toBackend(w, gpu), toBackend(x, gpu)];
  expect(wg.dtype).toBe(w.dtype);
  const got = xg.matmul(wg.transpose(0, 1));
  expect(await maxDiff(got, want)).toBeLessThanOrEqual(1e-4);
  for (const t of [w, x, want, wg, xg, got]) t.dispose();
}

describe.skipIf(!backend).each(["float16", "bfloat16", "q8_0", "q4_0", "q5_0", "q4_1", "q5_1"] as const)(
  "%s weights on WebGPU",
  (dtype) => {
    const gpu = backend!;
    it("reports the dtype as multiplied as stored", () => {
      expect(gpu.storedMatmulDTypes).toContain(dtype);
    });

    // [N, K] weights used as x @ W^T (blocks along K), rows 1 and 3 (GEMV), 40 (one thread per output), 130 (tiled)
    it.each([1, 3, 40, 130])("x [%i, 96] @ W^T, W [72, 96]: the CPU backend's product", async (M) => {
      const w = await stored(randn([72, 96], { backend: cpuBackend, seed: 1 }), dtype);
      await expectCpuProduct(gpu, w, randn([M, 96], { backend: cpuBackend, seed: 2 }));
    });

    it("take (rows dequantized) and a cast to float32 equal the CPU backend's", async () => {
      const w = await stored(randn([10, 64], { backend: cpuBackend, seed: 3 }), dtype);
      const wg = toBackend(w, gpu);
      const idsCpu = tensor([3, 0, 9, 3, 7], { dtype: "int32", backend: cpuBackend });
      const rows = wg.take(toBackend(idsCpu, gpu), 0);
      const want = w.take(idsCpu, 0);
      expect(rows.dtype).toBe(dtype.startsWith("q") ? "float32" : dtype);
      // (Q4_1 / Q5_1: d q + m, which a GPU may fuse into one rounding: within an ulp of values below 8)
      const tolerance = dtype === "q4_1" || dtype === "q5_1" ? 2 ** -21 : 0;
      expect(await maxDiff(rows.float(), want.float())).toBeLessThanOrEqual(tolerance);
      expect(await maxDiff(wg.float(), w.float())).toBeLessThanOrEqual(tolerance);
      // the bytes (or half bits) come back as they went up
      expect(Array.from(await wg.data())).toEqual(Array.from(await w.data()));
    });
  },
);

/** Where each K-quant's float16 scales sit in its block (Q2_K, Q4_K, Q5_K: d and dmin; Q3_K, Q6_K: d). */
const K_SCALES = {
  q2_k: [80, 82],
  q3_k: [108],
  q4_k: [0, 2],
  q5_k: [0, 2],
  q6_k: [208],
  iq4_xs: [0],
  iq4_nl: [0],
  iq2_xxs: [0],
  iq2_xs: [0],
  iq2_s: [0],
  iq3_xxs: [0],
  iq3_s: [0],
  iq1_s: [0],
  iq1_m: [],
} as const;
type KQuant = keyof typeof K_SCALES;

/**
 * K-quant, IQ4 and lattice (IQ1-IQ3) blocks (what llama-quantize's Q2_K, Q3_K_M, Q4_K_M, Q5_K_M, IQ4_XS
 * and IQ1-IQ3 files hold), read as stored: random block bytes with sane float16 scales, as GGUF
 * files bring them (IQ1_M's d spread over its scale words' top nibbles).
 */
function kQuantBlocks(dtype: KQuant, rows: number, cols: number, seed: number): Tensor {
  const { bytes: bytesPerBlock, elements } = QUANT_BLOCKS[dtype];
  const blocks = (rows * cols) / elements;
  const bytes = new Uint8Array(blocks * bytesPerBlock);
  let state = seed;
  for (let i = 0; i < bytes.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    bytes[i] = state >>> 24;
  }
  // float16 scales between 2^-9 and 2^-7 (exponent 6-8, any mantissa), dmin likewise
  for (let b = 0; b < blocks; b++) {
    for (const at of K_SCALES[dtype]) {
      const o = b * bytesPerBlock + at;
      const bits = ((6 + (bytes[o]! % 3)) << 10) | (((bytes[o + 1]! << 8) | bytes[o]!) & 0x3ff);
      bytes[o] = bits & 255;
      bytes[o + 1] = bits >> 8;
    }
    if (dtype === "iq1_m") {
      const o = b * bytesPerBlock;
      const bits = (7 << 10) | (bytes[o]! & 0x3ff);
      for (let k = 0; k < 4; k++) bytes[o + 49 + 2 * k] = (bytes[o + 49 + 2 * k]! & 0x0f) | (((bits >> (4 * k)) & 15) << 4);
    }
  }
  return new Tensor(new Storage(cpuBackend, cpuBackend.upload(bytes, dtype)), [rows, cols], dtype);
}

describe
  .skipIf(!backend)
  .each([
    "q2_k",
    "q3_k",
    "q4_k",
    "q5_k",
    "q6_k",
    "iq4_xs",
    "iq4_nl",
    "iq2_xxs",
    "iq2_xs",
    "iq2_s",
    "iq3_xxs",
    "iq3_s",
    "iq1_s",
    "iq1_m",
  ] as const)("%s weights on WebGPU", (dtype) => {
  const gpu = backend!;
  it("reports the dtype as multiplied as stored", () => {
    expect(gpu.storedMatmulDTypes).toContain(dtype);
  });

  it.each([1, 3, 40, 130])("x [%i, 512] @ W^T, W [24, 512]: the CPU backend's product", async (M) => {
    await expectCpuProduct(gpu, kQuantBlocks(dtype, 24, 512, 11), randn([M, 512], { backend: cpuBackend, seed: 12 }));
  });

  it("take and a cast to float32 give the CPU backend's values (Q2_K, Q4_K, Q5_K: within an ulp, where the GPU may or may not fuse d sc q - dmin m)", async () => {
    const w = kQuantBlocks(dtype, 6, 512, 13);
    const wg = toBackend(w, gpu);
    const idsCpu = tensor([3, 0, 5, 3], { dtype: "int32", backend: cpuBackend });
    const rows = wg.take(toBackend(idsCpu, gpu), 0);
    const want = w.take(idsCpu, 0);
    expect(rows.dtype).toBe("float32");
    const [a, b] = [(await rows.data()) as Float32Array, (await want.data()) as Float32Array];
    const [c, d] = [(await wg.float().data()) as Float32Array, (await w.float().data()) as Float32Array];
    const ulp = (v: number) => (v === 0 ? 2 ** -149 : 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23));
    for (const [got, exp] of [
      [a, b],
      [c, d],
    ] as const) {
      expect(got.length).toBe(exp.length);
      for (let i = 0; i < got.length; i++) {
        const tolerance = dtype === "q2_k" || dtype === "q4_k" || dtype === "q5_k" ? ulp(exp[i]!) : 0;
        expect(Math.abs(got[i]! - exp[i]!), `value ${i}: ${got[i]} vs ${exp[i]}`).toBeLessThanOrEqual(tolerance);
      }
    }
    expect(Array.from(await wg.data())).toEqual(Array.from(await w.data()));
  });
});
