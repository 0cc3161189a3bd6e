// ggml's GELU (activationRounding "ggml") in WebAssembly against ggmlGelu, the JS function it
// replaced (the peer: the same bits, checked here), on one memory of this process without the
// backend around them: the table of float16 entries (128 KiB) or float32 ones (256 KiB), looked up
// by a scalar loop or by SIMD lanes (the float16 rounding four lanes at a time). GPT-2-small's MLP
// width, one row (decoding) and 128 rows (prefill), values spread like its pre-activations (about
// normal, scale 1.5, a few past ±10). Calls interleaved; per call, the best and median of --rounds
// batches. Reads the kernels from source, so it is bundled first:
//   npx esbuild benchmarks/ggml_gelu_kernels.ts --bundle --platform=node --format=esm \
//     --outfile=out/bench/ggml_gelu_kernels.mjs && node out/bench/ggml_gelu_kernels.mjs
// Writes out/bench/ggml_gelu_kernels.json.
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { emitModule } from "../packages/tensor/src/cpu/wasm/encoder.js";
import { GGML_GELU_VARIANTS, ggmlGeluFunction } from "../packages/tensor/src/cpu/wasm/ggml_gelu_module.js";
import { geluTable, ggmlGelu } from "../packages/tensor/src/cpu/kernels/ggml_rounding.js";
import { float32ToFloat16Bits } from "../packages/tensor/src/cpu/half.js";

const rounds = Number(process.argv.find((a) => a.startsWith("--rounds="))?.slice(9) ?? 41);
const variants = GGML_GELU_VARIANTS;
const memory = new WebAssembly.Memory({ initial: 200, maximum: 400, shared: true });
const bytes = emitModule(
  variants.map(([name, table, simd]) => ggmlGeluFunction(name, table, simd)),
  { shared: true },
);
const ex = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports as Record<string, (...a: number[]) => void>;
const width = 3072;
const [T32, T16, X, Y] = [1 << 20, 2 << 20, 4 << 20, 8 << 20];
const values = geluTable();
new Float32Array(memory.buffer, T32, 65536).set(values);
const t16 = new Uint16Array(memory.buffer, T16, 65536);
for (let i = 0; i < 65536; i++) t16[i] = float32ToFloat16Bits(values[i]!);

let seed = 7;
const uniform = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
// "decode, cold": a decoding step's 12 GELUs each come after matrix products that stream megabytes
// of weights through the caches, so each call there first reads 8 MB (untimed) to evict the table
const shapes = { decode: 1, "decode, cold": 1, prefill: 128 };
const evict = new Float32Array(2 << 20);
let sink = 0;
const input = new Float32Array(memory.buffer, X, 128 * width);
for (let i = 0; i < input.length; i++) {
  const normal = (uniform() + uniform() + uniform() + uniform() - 2) * Math.sqrt(3);
  input[i] = i % 997 === 0 ? normal * 12 : normal * 1.5;
}

const results: Record<string, Record<string, { bestUs: number; medianUs: number }>> = {};
for (const [shape, rows] of Object.entries(shapes)) {
  const n = rows * width;
  const x = input.subarray(0, n);
  const want = new Uint32Array(ggmlGelu(x).buffer);
  const cases: Record<string, () => void> = { js: () => ggmlGelu(x) };
  for (const [name, ,] of variants) {
    const table = name.endsWith("f32") ? T32 : T16;
    cases[name] = () => ex[name]!(X, Y, n, table);
    cases[name]();
    const got = new Uint32Array(memory.buffer, Y, n);
    for (let i = 0; i < n; i++) if (got[i] !== want[i]) throw new Error(`${name}: x[${i}] = ${x[i]} gives ${got[i]}, ggmlGelu ${want[i]}`);
  }
  // enough calls per batch for a timer tick to be small beside them
  const cold = shape.endsWith("cold");
  const batch = cold ? 20 : Math.max(1, Math.round(200_000 / n));
  const times: Record<string, number[]> = {};
  for (let r = 0; r < rounds; r++) {
    for (const [name, fn] of Object.entries(cases)) {
      let ms = 0;
      for (let b = 0; b < batch; b++) {
        if (cold) for (let i = 0; i < evict.length; i += 16) sink += evict[i]!;
        const t = performance.now();
        fn();
        ms += performance.now() - t;
      }
      (times[name] ??= []).push((ms * 1000) / batch);
    }
  }
  results[shape] = {};
  for (const [name, ts] of Object.entries(times)) {
    ts.sort((a, b) => a - b);
    const fig = { bestUs: ts[0]!, medianUs: ts[ts.length >> 1]! };
    results[shape][name] = fig;
    console.log(
      `${shape.padEnd(8)} ${name.padEnd(11)} best ${fig.bestUs.toFixed(2).padStart(8)} us, median ${fig.medianUs.toFixed(2).padStart(8)} us a call (${((fig.medianUs * 1000) / n).toFixed(2)} ns a value), ${(times.js![times.js!.length >> 1]! / fig.medianUs).toFixed(1)}x ggmlGelu`,
    );
  }
}
if (sink !== 0) console.log(sink);
mkdirSync("out/bench", { recursive: true });
writeFileSync("out/bench/ggml_gelu_kernels.json.tmp", JSON.stringify({ node: process.version, width, rounds, results }, null, 2));
renameSync("out/bench/ggml_gelu_kernels.json.tmp", "out/bench/ggml_gelu_kernels.json");
