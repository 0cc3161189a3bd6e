// Decoding GEMVs over stored weights, the resident kernel (weight read in place in the heap,
// rows split over threads) against the staged one it replaces (weight copied into its own memory
// each call, one thread), in one process on the same weights: GPT-2 small's shapes (768 -> 2304,
// 3072 -> 768, and the 50257 x 768 head), one activation row. Q4_K, Q5_K, Q5_0, Q4_1, Q5_1, Q2_K,
// Q3_K, the IQ4 and the lattice (IQ1-IQ3) types have no staged kernel: their "staged" column is the JS kernel (CpuBackend({ wasm: false })). Reads the kernels from source, so
// it is bundled first:
//   npx esbuild benchmarks/matmul/gemv_stored.ts --bundle --platform=node --format=esm \
//     --outfile=out/bench/gemv_stored.mjs && node out/bench/gemv_stored.mjs [--quick] [--dtypes=q8_0,q4_k]
// The block types also run as llama.cpp computes them (CpuBackend({ activationRounding: "ggml" }):
// the activation row quantized to Q8_0, Q8_K for the K-quants, int8 dot products), the "ggml" columns, beside the default
// float32-activation kernel. Figures are per CPU-second of this process (process.cpuUsage), so other load on a shared
// machine disturbs them less; threaded runs also give wall time. Writes out/bench/gemv_stored.json.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import type { StridedView } from "../../packages/tensor/src/backend.js";
import { CpuBackend } from "../../packages/tensor/src/cpu/backend.js";
import { CpuBuffer } from "../../packages/tensor/src/cpu/buffer.js";
import { float32ToBfloat16Bits, float32ToFloat16Bits } from "../../packages/tensor/src/cpu/half.js";
import { gemvStoredWasm } from "../../packages/tensor/src/cpu/wasm/gemv_stored.js";
import { QUANT_BLOCKS, type QuantizedDType } from "../../packages/tensor/src/dtype.js";
import { quantizeBlocks } from "../../packages/tensor/src/quant/index.js";

const quick = process.argv.includes("--quick");
const only = process.argv
  .find((a) => a.startsWith("--dtypes="))
  ?.slice(9)
  .split(",");
const SHAPES = [
  [2304, 768],
  [768, 3072],
  [50257, 768],
] as const;
const DTYPES = [
  "float16",
  "bfloat16",
  "q8_0",
  "q4_0",
  "q6_k",
  "q4_k",
  "q5_k",
  "q5_0",
  "q4_1",
  "q5_1",
  "q2_k",
  "q3_k",
  "iq4_nl",
  "iq4_xs",
  "iq2_xxs",
  "iq2_xs",
  "iq2_s",
  "iq3_xxs",
  "iq3_s",
  "iq1_s",
  "iq1_m",
] as const;
/** llama.cpp's lattice types: read only, so random blocks (as the K-quants below). */
const LATTICE = ["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"];
/** The types with no staged kernel: their peer is the JS kernel (CpuBackend({ wasm: false })). */
const NO_STAGED: readonly string[] = ["q4_k", "q5_k", "q5_0", "q4_1", "q5_1", "q2_k", "q3_k", "iq4_nl", "iq4_xs", ...LATTICE];
/** Random K-quant and IQ4 blocks: where their float16 d (and dmin) sit, set to a real model's size. */
const RANDOM_BLOCKS: Readonly<Record<string, readonly number[]>> = {
  q4_k: [0, 2],
  q5_k: [0, 2],
  q2_k: [80, 82],
  q3_k: [108],
  iq4_nl: [0],
  iq4_xs: [0],
  ...Object.fromEntries(LATTICE.filter((d) => d !== "iq1_m").map((d) => [d, [0]])),
  // (IQ1_M's d is spread over the top nibbles of the u16s at 48-54: encode() puts it there)
  iq1_m: [],
};

function random(n: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = (s / 2 ** 32 - 0.5) * 0.2;
  }
  return out;
}

function encode(dtype: (typeof DTYPES)[number], w: Float32Array): Uint8Array | Uint16Array {
  const scales = RANDOM_BLOCKS[dtype];
  if (scales) {
    // random quants, high bits, scales and mins, with d and dmin of a real model's size (their
    // quantizers' search would take minutes on the head)
    const { bytes, elements } = QUANT_BLOCKS[dtype as QuantizedDType];
    const blocks = w.length / elements;
    const data = Uint8Array.from({ length: blocks * bytes }, (_, i) => Math.floor((w[i % w.length]! + 0.1) * 1275) & 255);
    for (let b = 0; b < blocks; b++) {
      scales.forEach((at, k) => {
        const h = float32ToFloat16Bits(k === 0 ? 0.004 : 0.002);
        data.set([h & 255, h >> 8], b * bytes + at);
      });
      if (dtype === "iq1_m") {
        const h = float32ToFloat16Bits(0.004);
        for (let k = 0; k < 4; k++) data[b * bytes + 49 + 2 * k] = (data[b * bytes + 49 + 2 * k]! & 0x0f) | (((h >> (4 * k)) & 15) << 4);
      }
    }
    return data;
  }
  if (dtype === "float16") return Uint16Array.from(w, float32ToFloat16Bits);
  if (dtype === "bfloat16") return Uint16Array.from(w, float32ToBfloat16Bits);
  const { elements, bytes } = QUANT_BLOCKS[dtype as QuantizedDType];
  const data = new Uint8Array((w.length / elements) * bytes);
  quantizeBlocks(dtype as QuantizedDType, w, 0, w.length, data, 0);
  return data;
}

/**
 * Best CPU and wall milliseconds per call over `runs` timed calls after warming up for 300 ms of
 * calls (V8 tiers a wasm function up to TurboFan in the background, after a while).
 */
function time(fn: () => void, runs: number): { cpu: number; wall: number } {
  const until = performance.now() + (quick ? 50 : 300);
  do fn();
  while (performance.now() < until);
  let cpu = Infinity;
  let wall = Infinity;
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    fn();
    wall = Math.min(wall, performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu = Math.min(cpu, (c.user + c.system) / 1000);
  }
  return { cpu, wall };
}

const one = new CpuBackend({ threads: 1 });
const two = new CpuBackend({ threads: 2 });
const js = new CpuBackend({ wasm: false });
const ggmlOne = new CpuBackend({ threads: 1, activationRounding: "ggml" });
const ggmlTwo = new CpuBackend({ threads: 2, activationRounding: "ggml" });
await two.ready();
await ggmlTwo.ready();
const rows: Record<string, unknown>[] = [];
for (const dtype of DTYPES) {
  if (only && !only.includes(dtype)) continue;
  for (const [N, K] of SHAPES) {
    const data = encode(dtype, random(N * K, N + K));
    const x = random(K, 7);
    const runs = quick ? 3 : N > 10000 ? 8 : 40;
    const staged = new Float32Array(N);
    const outside: StridedView = { buffer: new CpuBuffer(data, dtype), shape: [K, N], strides: [1, K], offset: 0 };
    // the types with no staged kernel: their peer is the JS kernel they decode on without WebAssembly
    const tStaged = NO_STAGED.includes(dtype)
      ? time(() => {
          const a: StridedView = { buffer: js.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
          js.matmul(a, outside);
        }, runs)
      : time(() => gemvStoredWasm(1, N, K, x, outside, staged), runs);
    const resident = (be: CpuBackend) => {
      const a: StridedView = { buffer: be.upload(x, "float32"), shape: [1, K], strides: [K, 1], offset: 0 };
      const b: StridedView = { buffer: be.upload(data, dtype), shape: [K, N], strides: [1, K], offset: 0 };
      return time(() => be.dispose(be.matmul(a, b)), runs);
    };
    const t1 = resident(one);
    const t2 = resident(two);
    // llama.cpp's way: Q8_0 (Q8_K) activations and int8 dot products (Q5_0 / Q4_1 / Q5_1 / Q2_K / Q3_K / IQ4: rounded in JS, float kernels)
    const int8 = dtype !== "float16" && dtype !== "bfloat16";
    const g1 = int8 ? resident(ggmlOne) : null;
    const g2 = int8 ? resident(ggmlTwo) : null;
    const row = {
      dtype,
      shape: `${N}x${K}`,
      stagedCpuMs: tStaged.cpu,
      resident1CpuMs: t1.cpu,
      resident2WallMs: t2.wall,
      resident2CpuMs: t2.cpu,
      speedup1: tStaged.cpu / t1.cpu,
      speedup2Wall: tStaged.wall / t2.wall,
      ...(g1 && g2 ? { ggml1CpuMs: g1.cpu, ggml2WallMs: g2.wall, ggmlSpeedup1: t1.cpu / g1.cpu } : {}),
    };
    rows.push(row);
    console.log(
      `${dtype.padEnd(8)} ${row.shape.padEnd(10)} staged ${tStaged.cpu.toFixed(2)} ms cpu | resident 1 thread ${t1.cpu.toFixed(2)} ms cpu (x${row.speedup1.toFixed(2)}) | 2 threads ${t2.wall.toFixed(2)} ms wall (x${row.speedup2Wall.toFixed(2)} vs staged wall ${tStaged.wall.toFixed(2)})`,
    );
    if (g1 && g2) {
      console.log(
        `${"".padEnd(8)} ${"".padEnd(10)} ggml (int8) 1 thread ${g1.cpu.toFixed(2)} ms cpu (x${(t1.cpu / g1.cpu).toFixed(2)} vs float activations) | 2 threads ${g2.wall.toFixed(2)} ms wall`,
      );
    }
  }
}
one.close();
two.close();
ggmlOne.close();
ggmlTwo.close();
mkdirSync("out/bench", { recursive: true });
writeFileSync("out/bench/gemv_stored.json.tmp", `${JSON.stringify({ date: new Date().toISOString(), rows }, null, 2)}\n`);
renameSync("out/bench/gemv_stored.json.tmp", "out/bench/gemv_stored.json");
