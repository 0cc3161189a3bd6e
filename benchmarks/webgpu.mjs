// pnpm bench:webgpu — @llm/webgpu on the WebGPU adapter this machine has, in one process:
//  1. float32 square matmul TFLOP/s for @llm/webgpu and @tensorflow/tfjs-backend-webgpu (each on
//     its own device from the same adapter), with the ratio;
//  2. the adapter's copy bandwidth (copyBufferToBuffer, read + write);
//  3. GPT-2 small and the TinyLlama 1.1B shape (random weights) in float32, float16, Q8_0 and Q4_0:
//     prefill tokens/s (1 x 512; float32 also with the two-GEMM attention instead of the tiled
//     kernel), KV-cache greedy decode tokens/s, and the share of memory bandwidth that implies
//     (weight bytes per token x tokens/s, against the measured copy rate and the card's nominal
//     bandwidth when the adapter names a known card);
//  4. the training step of bench:train (4.2M parameters) on WebGPU and on the CPU backend.
// Everything is also written to out/bench/webgpu.json.
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
/** A fraction as a percentage with two significant digits below 1%. */
const pct = (x) => `${100 * x >= 1 ? (100 * x).toFixed(1) : (100 * x).toPrecision(2)}%`;
const matmulResults = [];

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
  matmulResults.push({ n, ours: o, tfjs_webgpu: t, ratio: o / t });
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

// ---- 3. models: prefill and decode per weight dtype ----
// Nominal memory bandwidth of cards the adapter may name (bytes/s); elsewhere the fraction is
// given against the measured copy rate only, flagged.
const NOMINAL_BANDWIDTH = [
  [/H200/i, 4.8e12],
  [/H100.*PCIe/i, 2.0e12],
  [/H100/i, 3.35e12],
  [/A100/i, 2.0e12],
  [/L4\b/i, 0.3e12],
];
const adapterName = `${info.vendor} ${info.architecture} ${info.device} ${info.description}`;
const nominal = NOMINAL_BANDWIDTH.find(([re]) => re.test(adapterName))?.[1] ?? null;
const readRate = bandwidth / 2; // the copy moves each byte twice (read + write)
const SHAPES = software
  ? {
      "GPT-2-shaped (shrunk)": { model_type: "gpt2", vocab_size: 2048, n_positions: 256, n_embd: 128, n_layer: 2, n_head: 4 },
      "TinyLlama-shaped (shrunk)": {
        model_type: "llama",
        vocab_size: 2048,
        hidden_size: 128,
        intermediate_size: 352,
        num_hidden_layers: 2,
        num_attention_heads: 8,
        num_key_value_heads: 1,
        max_position_embeddings: 256,
      },
    }
  : {
      "GPT-2 small": { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 },
      "TinyLlama 1.1B shape": {
        model_type: "llama",
        vocab_size: 32000,
        hidden_size: 2048,
        intermediate_size: 5632,
        num_hidden_layers: 22,
        num_attention_heads: 32,
        num_key_value_heads: 4,
        max_position_embeddings: 2048,
      },
    };
// Q4_0 models keep their head in Q6_K (quantize()'s choice, as llama.cpp), read as stored on WebGPU too.
const DTYPES = ["float32", "float16", "q8_0", "q4_0"];
/** Bytes one element occupies on the GPU: halves are two to a 32-bit word (docs/webgpu.md). */
const GPU_BYTES = { float32: 4, float16: 2, bfloat16: 2, q8_0: 34 / 32, q4_0: 18 / 32, q4_k: 144 / 256, q6_k: 210 / 256 };
const { quantize } = await import("@llm/models");
const prefillLength = software ? 128 : 512; // from 128 x 128 scores "auto" takes the tiled attention
const prompt = 8;
const steps = software ? 8 : quick ? 32 : 128;
const modelResults = [];

async function makeModel(config, dtype) {
  const model = createModel(config, { seed: 0, backend: ours });
  if (dtype === "float32") return model;
  await quantize(model, dtype);
  return model;
}

/** Bytes of weights read per decoded token: every matrix once; an untied input embedding one row. */
function bytesPerToken(model, config) {
  const tied = config.tie_word_embeddings ?? config.model_type === "gpt2";
  let bytes = 0;
  for (const [name, p] of model.namedParameters()) {
    const per = GPU_BYTES[p.dtype] ?? 4;
    const inputTable = /(wte|embed_tokens)\.weight$/.test(name) && !tied;
    const positionTable = /wpe\.weight$/.test(name);
    bytes += (inputTable || positionTable ? p.shape[p.shape.length - 1] : p.size) * per;
  }
  return bytes;
}

async function decode(model, ids) {
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

setBackend(ours);
for (const [label, config] of Object.entries(SHAPES)) {
  const rng = new Rng(7);
  const vocab = config.vocab_size;
  const ids = Array.from({ length: prefillLength }, () => Math.floor(rng.uniform() * vocab));
  console.log(`\n${label}, random weights; prefill 1 x ${prefillLength}, decode ${steps} tokens after ${prompt}`);
  console.log(
    "dtype".padEnd(9) +
      "params".padStart(8) +
      "MB/token".padStart(10) +
      "prefill tok/s".padStart(15) +
      "(gemm attn)".padStart(13) +
      "decode tok/s".padStart(14) +
      "% of copy rate".padStart(16) +
      "% of nominal".padStart(14),
  );
  for (const dtype of DTYPES) {
    const model = await makeModel(config, dtype);
    const params = model.parameters().reduce((s, p) => s + p.size, 0);
    const bytes = bytesPerToken(model, config);
    const input = tensor([ids], { dtype: "int32" });
    const prefill = async (kernel) => {
      ours.attentionKernel = kernel;
      try {
        return await bestSeconds(
          () => noGrad(() => tidy(() => void model.forward(input, {}))),
          () => ours.sync(),
          1,
          quick || software ? 1 : 3,
        );
      } finally {
        ours.attentionKernel = "auto";
      }
    };
    const prefillSeconds = await prefill("auto");
    // the two-GEMM attention beside the tiled kernel "auto" picks, float32 only
    const gemmSeconds = dtype === "float32" ? await prefill("gemm") : null;
    input.dispose();
    await decode(model, ids); // warm-up
    const live = ours.stats().liveBuffers;
    const decodeSeconds = Math.min(await decode(model, ids), quick || software ? Infinity : await decode(model, ids));
    const leaked = ours.stats().liveBuffers - live;
    const tokS = steps / decodeSeconds;
    const ofCopy = (tokS * bytes) / readRate;
    const ofNominal = nominal ? (tokS * bytes) / nominal : null;
    const r = {
      model: label,
      config,
      dtype,
      params,
      bytes_per_token: bytes,
      prefill_tokens: prefillLength,
      prefill_tokens_per_s: prefillLength / prefillSeconds,
      prefill_gemm_attention_tokens_per_s: gemmSeconds ? prefillLength / gemmSeconds : null,
      decode_tokens_per_s: tokS,
      fraction_of_copy_read_rate: ofCopy,
      fraction_of_nominal_bandwidth: ofNominal,
      live_buffers_leaked_by_a_decode: leaked,
      note: dtype === "q4_0" ? "the head in Q6_K (quantize()'s default, as llama.cpp), read as stored" : undefined,
    };
    modelResults.push(r);
    console.log(
      dtype.padEnd(9) +
        `${(params / 1e6).toFixed(1)}M`.padStart(8) +
        fmt(bytes / 1e6, 1).padStart(10) +
        fmt(r.prefill_tokens_per_s, 1).padStart(15) +
        (gemmSeconds ? fmt(r.prefill_gemm_attention_tokens_per_s, 1) : "-").padStart(13) +
        fmt(tokS, 1).padStart(14) +
        pct(ofCopy).padStart(16) +
        (ofNominal === null ? "unknown" : pct(ofNominal)).padStart(14) +
        (leaked ? `  (${leaked} buffers leaked per decode!)` : ""),
    );
    model.dispose?.();
    ours.trim();
  }
}
if (nominal === null) console.log(`(no nominal bandwidth known for "${adapterName.trim()}": fractions are of the measured copy rate only)`);

// ---- 4. the training step ----
const { TRAIN_SHAPE, timeTrainingStep } = await import("./train-step.mjs");
const { cpuBackend } = await import("@llm/tensor");
const trainShape = software ? { vocab: 512, context: 32, width: 64, layers: 2, heads: 2, batch: 4 } : TRAIN_SHAPE;
const trainSteps = quick || software ? 1 : 3;
const trainGpu = await timeTrainingStep(ours, trainShape, { steps: trainSteps, sync: () => ours.sync() });
const trainCpu = await timeTrainingStep(cpuBackend, trainShape, { steps: trainSteps });
setBackend(ours);
console.log(
  `\ntraining step (forward, cross-entropy, backward, AdamW), GPT-2 shape ${JSON.stringify(trainShape)}${software ? " (shrunk)" : " (bench:train's)"}, ${(trainGpu.params / 1e6).toFixed(2)}M parameters:`,
);
console.log(
  `  @llm/webgpu: ${fmt(trainGpu.step_ms, 1)} ms/step = ${fmt(trainGpu.tokens_per_s, 1)} tokens/s (first step ${fmt(trainGpu.first_step_ms, 0)} ms)`,
);
console.log(
  `  CPU backend (${cpuBackend.threads} threads, same process): ${fmt(trainCpu.step_ms, 1)} ms/step = ${fmt(trainCpu.tokens_per_s, 1)} tokens/s; WebGPU / CPU ${fmt(trainGpu.tokens_per_s / trainCpu.tokens_per_s)}x`,
);

console.log(
  `\nlive buffers: ${ours.stats().liveBuffers}; pipelines compiled: ${ours.stats().pipelines} (${fmt(ours.stats().compileMs / 1000, 1)} s)`,
);
const { mkdirSync, renameSync, writeFileSync } = await import("node:fs");
const outDir = new URL("../out/bench/", import.meta.url);
mkdirSync(outDir, { recursive: true });
const json = {
  benchmark: "webgpu",
  adapter: adapterName.replace(/\s+/g, " ").trim(),
  software,
  node: process.version,
  quick,
  matmul: { unit, sizes: matmulResults },
  copy_bandwidth_bytes_per_s: bandwidth,
  nominal_bandwidth_bytes_per_s: nominal,
  models: modelResults,
  training: { shape: trainShape, webgpu: trainGpu, cpu: { ...trainCpu, threads: cpuBackend.threads } },
};
writeFileSync(new URL("webgpu.json.tmp", outDir), `${JSON.stringify(json, null, 2)}\n`);
renameSync(new URL("webgpu.json.tmp", outDir), new URL("webgpu.json", outDir));
console.log(`figures written to out/bench/webgpu.json`);
ours.destroy();
tfDevice.destroy();
