// Prefill GEMMs over stored weights (float16, bfloat16, Q8_0, Q4_0, Q6_K, Q4_K: panels decoded in
// WebAssembly per thread, then the float32 GEMM) against the float32 GEMM over the same weights
// already decoded to float32 (what the stored path can at best approach: it adds the decoding), in
// one process, alternating, on the CPU backend with the given threads. GPT-2 small's shapes (768 ->
// 2304, 768 -> 3072, 3072 -> 768), 128 activation rows; both activation modes ("ggml" rounds the
// activations as llama.cpp does first; over Q8_0 and Q4_0 it quantizes them to Q8_0 and runs the
// int8 GEMM instead, resident/gemm_q8.ts). Best of --rounds calls after a warm-up.
//   pnpm build && node --experimental-wasm-relaxed-simd benchmarks/matmul/gemm_stored.mjs [--threads 1,2] [--rounds 8]
// Writes out/bench/gemm_stored.json.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { CpuBackend, dequantizeBlocks, quantizeBlocks } from "../../packages/tensor/dist/index.js";

const { values: args } = parseArgs({
  options: { threads: { type: "string", default: "1,2" }, rounds: { type: "string", default: "8" } },
});
const ROWS = 128;
const SHAPES = [
  [2304, 768],
  [3072, 768],
  [768, 3072],
];
const DTYPES = ["float16", "bfloat16", "q8_0", "q4_0", "q6_k"];
const BLOCK = { q8_0: [32, 34], q4_0: [32, 18], q6_k: [256, 210] };

function random(n, seed) {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** float32 -> float16 / bfloat16 bits (round to nearest even; the weights here are small normals), and back. */
function toHalf(v, bf16) {
  f32[0] = v;
  const b = u32[0];
  if (bf16) return ((b + 0x7fff + ((b >>> 16) & 1)) >>> 16) & 0xffff;
  const e = ((b >>> 23) & 0xff) - 112;
  let h = ((b >>> 16) & 0x8000) | (e << 10) | ((b >>> 13) & 0x3ff);
  const rest = b & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++;
  return e <= 0 ? (b >>> 16) & 0x8000 : h;
}
function fromHalf(h, bf16) {
  if (bf16) {
    u32[0] = h << 16;
    return f32[0];
  }
  const e = (h >>> 10) & 0x1f;
  const m = h & 0x3ff;
  const v = e === 0 ? m * 2 ** -24 : (1 + m / 1024) * 2 ** (e - 15);
  return h & 0x8000 ? -v : v;
}

/** W [N, K] as `dtype` and the float32 values it holds. */
function encode(dtype, w) {
  if (dtype === "float16" || dtype === "bfloat16") {
    const bf = dtype === "bfloat16";
    const data = Uint16Array.from(w, (v) => toHalf(v, bf));
    return { data, values: Float32Array.from(data, (h) => fromHalf(h, bf)) };
  }
  const [elements, bytes] = BLOCK[dtype];
  const data = new Uint8Array((w.length / elements) * bytes);
  quantizeBlocks(dtype, w, 0, w.length, data, 0);
  const values = new Float32Array(w.length);
  dequantizeBlocks(dtype, data, 0, w.length, values, 0);
  return { data, values };
}

const rows = [];
const view = (buffer, K, N) => ({ buffer, shape: [K, N], strides: [1, K], offset: 0 });
for (const threads of args.threads.split(",").map(Number)) {
  for (const mode of ["none", "ggml"]) {
    const be = new CpuBackend({ threads, activationRounding: mode });
    for (const [N, K] of SHAPES) {
      const x = random(ROWS * K, 1);
      const a = { buffer: be.upload(x, "float32"), shape: [ROWS, K], strides: [K, 1], offset: 0 };
      const w = random(N * K, 2).map((v) => v * 0.1);
      for (const dtype of DTYPES) {
        const { data, values } = encode(dtype, w);
        const stored = be.upload(data, dtype);
        const float = be.upload(values, "float32");
        const time = (buf) => {
          const t = performance.now();
          be.readSync(be.matmul(a, view(buf, K, N)));
          return performance.now() - t;
        };
        for (let i = 0; i < 3; i++) time(stored) + time(float); // warm-up (V8 tiers up the kernels)
        let bestStored = Infinity;
        let bestFloat = Infinity;
        for (let i = 0; i < Number(args.rounds); i++) {
          bestStored = Math.min(bestStored, time(stored));
          bestFloat = Math.min(bestFloat, time(float));
        }
        const gflops = (ms) => (2 * ROWS * N * K) / ms / 1e6;
        const row = { threads, mode, dtype, N, K, rows: ROWS, storedMs: bestStored, float32Ms: bestFloat };
        rows.push(row);
        console.log(
          `${threads} thread${threads > 1 ? "s" : " "} ${mode.padEnd(4)} ${dtype.padEnd(8)} [${N}, ${K}]: stored ${bestStored.toFixed(2)} ms (${gflops(bestStored).toFixed(1)} GFLOP/s), ` +
            `float32 of the decoded weight ${bestFloat.toFixed(2)} ms (${gflops(bestFloat).toFixed(1)}): ${(bestFloat / bestStored).toFixed(2)}x its speed`,
        );
      }
    }
    be.close();
  }
}
const out = resolve(import.meta.dirname, "../../out/bench");
mkdirSync(out, { recursive: true });
const file = join(out, "gemm_stored.json");
writeFileSync(`${file}.tmp`, JSON.stringify({ node: process.version, date: new Date().toISOString(), rows }, null, 2));
renameSync(`${file}.tmp`, file);
console.log("wrote out/bench/gemm_stored.json");
