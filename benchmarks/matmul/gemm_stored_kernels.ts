// The prefill kernels over stored weights alone (cpu/wasm/gemm_stored_resident_module.ts: panels
// decoded in WebAssembly, then the float32 GEMM), against the float32 GEMM of that module on a
// float32 weight of the same shape, called back to back on one memory of this process, without the
// backend around them (no heap, no threads): what the decoding itself costs. GPT-2-small's
// 768 -> 2304 shape, 128 rows, the GEMM with relaxed SIMD's fused multiply-add where this Node has
// it. Best of --rounds calls each, interleaved. Reads the kernels from source, so it is bundled first:
//   npx esbuild benchmarks/matmul/gemm_stored_kernels.ts --bundle --platform=node --format=esm \
//     --outfile=out/bench/gemm_stored_kernels.mjs && node --experimental-wasm-relaxed-simd out/bench/gemm_stored_kernels.mjs
// Writes out/bench/gemm_stored_kernels.json.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { emitModule } from "../../packages/tensor/src/cpu/wasm/encoder.js";
import { storedGemmFunctions } from "../../packages/tensor/src/cpu/wasm/gemm_stored_resident_module.js";
import { hasRelaxedSimd } from "../../packages/tensor/src/cpu/resident/modules.js";

const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 25);
const fma = hasRelaxedSimd();
const memory = new WebAssembly.Memory({ initial: 2000, maximum: 4000, shared: true });
const bytes = emitModule(storedGemmFunctions(fma), { shared: true });
const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
const [N, K, M] = [2304, 768, 128];
const nc = 336; // the panel resident/gemm_stored.ts gives a 768-wide weight (1 MB)
// byte addresses: the stored weight (random bytes with small float16 scales), activations, output, scratch, the float32 weight
const [W, X, C, PANEL, PACK, PA, TILE, WF] = [0, 8 << 20, 16 << 20, 24 << 20, 28 << 20, 30 << 20, 31 << 20, 40 << 20];
const u8 = new Uint8Array(memory.buffer);
for (let i = 0; i < 8e6; i++) u8[i] = ((i * 2654435761) >>> 24) & 0x3b;
const f32 = new Float32Array(memory.buffer);
for (let i = 0; i < M * K; i++) f32[X / 4 + i] = Math.sin(i);
for (let i = 0; i < N * K; i++) f32[WF / 4 + i] = Math.cos(i) * 0.1;
const stored = (dtype: string, rowBytes: number, nb: number) => () =>
  ex[`gemm_${dtype}`]!(W, rowBytes, nb, X, K * 4, C, N * 4, M, K, 0, N, nc, PANEL, PACK, TILE, PA);
const cases: Record<string, () => void> = {
  float16: stored("float16", K * 2, K / 4),
  q8_0: stored("q8_0", (K / 32) * 34, K / 32),
  q4_0: stored("q4_0", (K / 32) * 18, K / 32),
  q6_k: stored("q6_k", (K / 256) * 210, K / 256),
  float32: () => ex.gemm!(X, K * 4, 4, WF, 4, K * 4, C, N * 4, M, K, 0, N, PACK, TILE, PA),
};
const best: Record<string, number> = {};
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(cases)) {
    const t = performance.now();
    fn();
    best[name] = Math.min(best[name] ?? Infinity, performance.now() - t);
  }
}
for (const [name, ms] of Object.entries(best)) {
  console.log(
    `${name.padEnd(8)} ${ms.toFixed(2)} ms (${((2 * M * N * K) / ms / 1e6).toFixed(1)} GFLOP/s), ${(best.float32! / ms).toFixed(2)}x the float32 GEMM's speed`,
  );
}
mkdirSync("out/bench", { recursive: true });
writeFileSync("out/bench/gemm_stored_kernels.json.tmp", JSON.stringify({ node: process.version, fma, M, N, K, bestMs: best }, null, 2));
renameSync("out/bench/gemm_stored_kernels.json.tmp", "out/bench/gemm_stored_kernels.json");
