// pnpm bench:webgpu — @llm/webgpu on the WebGPU adapter this machine has, in one process:
//  1. float32 square matmul TFLOP/s for @llm/webgpu and @tensorflow/tfjs-backend-webgpu (each on
//     its own device from the same adapter), with the ratio;
//  2. the adapter's copy bandwidth (copyBufferToBuffer, read + write);
//  3. a GPT-2-small-shaped model (random weights): forward tokens/s and KV-cache greedy decode
//     tokens/s, next to the decode rate the measured bandwidth allows (all weights read per token).
// On a software adapter (SwiftShader) sizes shrink so the run takes a minute or two, and the
// figures only show that everything works. Without VK_ICD_FILENAMES and without an adapter, the
// script re-runs itself on SwiftShader when chromium's ICD is installed.
// Flags: --quick (fewer repeats), --tiles (also time each matmul tile shape of ours).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { create, globals } from "webgpu";

const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
const quick = process.argv.includes("--quick");
const tiles = process.argv.includes("--tiles");

Object.assign(globalThis, globals); // tfjs-backend-webgpu reads GPUBufferUsage & co. as globals
const gpu = create([]);
// ... and checks navigator.gpu, which Node lacks.
if (!globalThis.navigator) Object.defineProperty(globalThis, "navigator", { value: {}, configurable: true });
if (!globalThis.navigator.gpu) Object.defineProperty(globalThis.navigator, "gpu", { value: gpu, configurable: true });
const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
if (!adapter) {
  if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    console.log(`No WebGPU adapter; re-running on SwiftShader (VK_ICD_FILENAMES=${SWIFTSHADER_ICD}).`);
    const env = { ...process.env, VK_ICD_FILENAMES: SWIFTSHADER_ICD, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" };
    const r = spawnSync(process.execPath, process.argv.slice(1), { stdio: "inherit", env });
    process.exit(r.status ?? 1);
  }
  console.error(
    `No WebGPU adapter. Install chromium + libvulkan1 and set VK_ICD_FILENAMES=${SWIFTSHADER_ICD}, or run on a machine with a GPU driver.`,
  );
  process.exit(1);
}

const { createWebGPUBackend, TILE_LARGE, TILE_SMALL, VEC4_LARGE, VEC4_SMALL } = await import("@llm/webgpu");
// --tiles: every kernel shape worth comparing on a new GPU (the default choice is printed first).
const TILE_SHAPES = [
  ["scalar 64x64/4x4", TILE_SMALL],
  ["scalar 128x128/8x8", TILE_LARGE],
  ["vec4 64x64/4x4", VEC4_SMALL],
  ["vec4 128x128/8x8", VEC4_LARGE],
  ["vec4 128x128x16/8x8", { BM: 128, BN: 128, BK: 16, TM: 8, TN4: 2 }],
  ["vec4 64x128/4x8", { BM: 64, BN: 128, BK: 8, TM: 4, TN4: 2 }],
  ["vec4 128x64/8x4", { BM: 128, BN: 64, BK: 8, TM: 8, TN4: 1 }],
];
const tf = await import("@tensorflow/tfjs-core");
const { WebGPUBackend: TfWebGPUBackend } = await import("@tensorflow/tfjs-backend-webgpu");
const { createModel } = await import("@llm/models");
const { setBackend, tensor, tidy, noGrad, Rng } = await import("@llm/tensor");

const ours = await createWebGPUBackend({ adapter });
const info = adapter.info;
const software = ours.isSoftware;
console.log(
  `adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.replace(/\s+/g, " ").trim() +
    (software ? " (software)" : ""),
);
console.log(
  `features: ${[...adapter.features].filter((f) => ["shader-f16", "subgroups", "timestamp-query"].includes(f)).join(", ") || "none of shader-f16/subgroups/timestamp-query"}`,
);

// tfjs gets its own device on the same physical adapter (an adapter object makes one device),
// with the limits its own factory asks for.
const tfAdapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
const L = tfAdapter.limits;
const tfDevice = await tfAdapter.requestDevice({
  requiredLimits: {
    maxComputeWorkgroupStorageSize: L.maxComputeWorkgroupStorageSize,
    maxComputeWorkgroupsPerDimension: L.maxComputeWorkgroupsPerDimension,
    maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
    maxBufferSize: L.maxBufferSize,
    maxComputeWorkgroupSizeX: L.maxComputeWorkgroupSizeX,
    maxComputeInvocationsPerWorkgroup: L.maxComputeInvocationsPerWorkgroup,
  },
});
// tfjs registers its kernels under the name "webgpu": replace the factory its import registered.
if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
tf.registerBackend("webgpu", () => new TfWebGPUBackend(tfDevice, info));
await tf.setBackend("webgpu");
await tf.ready();

/** Best seconds per call of fn over `trials`, where each trial runs fn `reps` times then waits. */
async function bestSeconds(fn, wait, reps, trials = quick ? 1 : 3) {
  fn();
  await wait(); // warm-up: compiles pipelines, fills pools
  let best = Infinity;
  for (let t = 0; t < trials; t++) {
    const start = performance.now();
    for (let i = 0; i < reps; i++) fn();
    await wait();
    best = Math.min(best, (performance.now() - start) / 1000 / reps);
  }
  return best;
}

const fmt = (x, d = 2) => (x >= 100 ? x.toFixed(0) : x.toFixed(d));

// ---- 1. matmul ----
const sizes = software ? [64, 128, 256] : [1024, 2048, 4096];
// Software adapters reach GFLOP/s at best: print those units there.
const [unit, scale] = software ? ["GFLOP/s", 1e9] : ["TFLOP/s", 1e12];
console.log(`\nfloat32 matmul n x n x n, ${unit} (best of ${quick ? 1 : 3}, GPU work only; inputs resident)`);
console.log("n".padStart(6) + "@llm/webgpu".padStart(14) + "tfjs-webgpu".padStart(14) + "ratio".padStart(8) + (tiles ? "  tiles: " : ""));
for (const n of sizes) {
  const rng = new Rng(n);
  const host = Float32Array.from({ length: n * n }, () => rng.uniform() - 0.5);
  const view = (buffer) => ({ buffer, shape: [n, n], strides: [n, 1], offset: 0 });
  const a = view(ours.upload(host, "float32"));
  const b = view(ours.upload(host, "float32"));
  const reps = Math.max(2, Math.min(50, Math.round((software ? 2e7 : 4e11) / n ** 3)));
  const flops = 2 * n ** 3;
  const run = (f) => () => ours.dispose(f());
  const oursS = await bestSeconds(
    run(() => ours.matmul(a, b)),
    () => ours.sync(),
    reps,
  );
  let tileText = "";
  if (tiles) {
    for (const [name, cfg] of TILE_SHAPES) {
      if (n % cfg.BM || n % cfg.BN) {
        tileText += `  ${name} n/a`; // the vec4 kernels take whole tiles only
        continue;
      }
      const s = await bestSeconds(
        run(() => ours.matmulWithTile(a, b, cfg)),
        () => ours.sync(),
        reps,
      );
      tileText += `  ${name} ${fmt(flops / s / scale)}`;
    }
  }
  ours.dispose(a.buffer);
  ours.dispose(b.buffer);
  const ta = tf.tensor2d(host, [n, n]);
  const tb = tf.tensor2d(host, [n, n]);
  // tfjs submits on its own schedule; reading one element of the last product waits for all.
  let last = null;
  const tfS = await bestSeconds(
    () => {
      last?.dispose();
      last = tf.matMul(ta, tb);
    },
    async () => {
      const corner = tf.slice(last, [0, 0], [1, 1]);
      await corner.data();
      corner.dispose();
    },
    reps,
  );
  last?.dispose();
  ta.dispose();
  tb.dispose();
  const [o, t] = [flops / oursS / scale, flops / tfS / scale];
  console.log(String(n).padStart(6) + fmt(o, 3).padStart(14) + fmt(t, 3).padStart(14) + `${fmt(o / t)}x`.padStart(8) + tileText);
}

// ---- 2. bandwidth ----
const copyBytes = software ? 32 << 20 : 256 << 20;
const src = ours.device.createBuffer({ size: copyBytes, usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.STORAGE });
const dst = ours.device.createBuffer({ size: copyBytes, usage: GPUBufferUsage.COPY_DST | GPUBufferUsage.STORAGE });
const copySeconds = await bestSeconds(
  () => {
    const enc = ours.device.createCommandEncoder();
    enc.copyBufferToBuffer(src, 0, dst, 0, copyBytes);
    ours.device.queue.submit([enc.finish()]);
  },
  () => ours.device.queue.onSubmittedWorkDone(),
  software ? 3 : 20,
);
src.destroy();
dst.destroy();
const bandwidth = (2 * copyBytes) / copySeconds; // bytes read + written per second
console.log(`\ncopy bandwidth (${copyBytes >> 20} MiB copyBufferToBuffer, read + write): ${fmt(bandwidth / 1e9, 1)} GB/s`);

// ---- 3. GPT-2-small-shaped model ----
const config = software
  ? { model_type: "gpt2", vocab_size: 2048, n_positions: 128, n_embd: 128, n_layer: 2, n_head: 4, layer_norm_epsilon: 1e-5 }
  : { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12, layer_norm_epsilon: 1e-5 };
setBackend(ours);
const model = createModel(config, { seed: 0 });
const params = model.parameters().reduce((s, p) => s + p.size, 0);
const label = software ? "GPT-2-shaped, shrunk for a software adapter" : "GPT-2 small shape";
console.log(
  `\n${label}: ${config.n_layer} layers, d=${config.n_embd}, vocab ${config.vocab_size}, ${(params / 1e6).toFixed(1)}M parameters (random weights)`,
);
const seq = software ? 16 : 128;
const rng = new Rng(7);
const ids = Array.from({ length: seq }, () => Math.floor(rng.uniform() * config.vocab_size));
const input = tensor([ids], { dtype: "int32" });
const forwardSeconds = await bestSeconds(
  () => noGrad(() => tidy(() => void model.forward(input, {}))),
  () => ours.sync(),
  software ? 1 : 5,
);
console.log(`forward, batch 1 x ${seq} tokens: ${fmt(seq / forwardSeconds, 1)} tokens/s (${fmt(forwardSeconds * 1000, 1)} ms)`);

const prompt = 8;
const steps = software ? 8 : quick ? 32 : 128;
async function decode() {
  const cache = model.createCache();
  let next = tensor([ids.slice(0, prompt)], { dtype: "int32" });
  let start = 0;
  for (let step = 0; step <= steps; step++) {
    if (step === 1) start = performance.now(); // the prompt's prefill is not decoding
    const best = noGrad(() =>
      tidy(() => {
        const logits = model.forward(next, { cache });
        return logits
          .slice(1, logits.shape[1] - 1)
          .reshape(-1)
          .argmax(0);
      }),
    );
    const id = (await best.data())[0];
    best.dispose();
    next.dispose();
    next = tensor([[id]], { dtype: "int32" });
  }
  const seconds = (performance.now() - start) / 1000;
  next.dispose();
  cache.dispose();
  return seconds;
}
await decode(); // warm-up
const live = ours.stats().liveBuffers;
const decodeSeconds = Math.min(await decode(), quick ? Infinity : await decode());
const bound = bandwidth / 2 / (params * 4); // every weight read once per token (copy rate counts read + write)
console.log(`KV-cache greedy decode, ${steps} tokens after an ${prompt}-token prompt: ${fmt(steps / decodeSeconds, 1)} tokens/s`);
console.log(
  `bandwidth bound (weights ${((params * 4) / 1e6).toFixed(0)} MB per token at ${fmt(bandwidth / 2e9, 1)} GB/s read): ${fmt(bound, 1)} tokens/s -> ${fmt((100 * steps) / decodeSeconds / bound, 1)}% of it`,
);
console.log(`live buffers before/after a decode run: ${live} / ${ours.stats().liveBuffers}; pipelines compiled: ${ours.stats().pipelines}`);
model.dispose?.();
ours.destroy();
tfDevice.destroy();
