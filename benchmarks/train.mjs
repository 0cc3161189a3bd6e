// pnpm bench:train — training throughput: one step (forward, cross-entropy, backward, AdamW) of a
// GPT-2-shaped model with vocabulary 4096, context 128, width 256, 4 layers, 4 heads, batch 16
// (~4.2M parameters), @llm/* on the CPU backend beside PyTorch (/usr/bin/python3) on the same
// config and step, with the same thread count: 1, and all cores. Each of ours runs in a process of
// its own (`--child <threads>`), as PyTorch does. One warm-up step each; the best of the timed steps
// counts. Prints both and the ratio; writes out/bench/train.json. Uses the built packages.
// --webgpu: also the same step on @llm/webgpu (in a process of its own; SwiftShader where there is
// no GPU, with one timed step), beside the CPU backend's figure.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";
import { CpuBackend } from "../packages/tensor/dist/index.js";
import { TRAIN_SHAPE, timeTrainingStep } from "./train-step.mjs";

const quick = process.argv.includes("--quick");
const webgpu = process.argv.includes("--webgpu");
const steps = quick ? 1 : 3;
const shape = TRAIN_SHAPE;
const tokens = shape.batch * shape.context;
const child = process.argv.indexOf("--child");
const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";

/** Our step on `threads` threads, in this process: prints one JSON line. */
async function ours(threads) {
  const backend = new CpuBackend({ threads });
  const r = await timeTrainingStep(backend, shape, { steps });
  console.log(JSON.stringify({ ...r, threads: backend.threads, relaxedSimd: backend.relaxedSimd }));
  backend.close();
}

/** The same step on the WebGPU adapter this machine has (SwiftShader where there is no GPU): one JSON line. */
async function oursWebGPU() {
  const { createWebGPUBackend, probeWebGPU } = await import("../packages/webgpu/dist/index.js");
  const probe = await probeWebGPU();
  if (!probe.ok) {
    console.log(JSON.stringify({ skipped: probe.reason }));
    return;
  }
  const backend = await createWebGPUBackend();
  const info = backend.adapterInfo;
  const adapter = `${info?.vendor ?? ""} ${info?.architecture ?? ""} ${info?.device ?? ""} ${info?.description ?? ""}`
    .replace(/\s+/g, " ")
    .trim();
  // a software adapter is ~1000x slower than a GPU: one timed step is all it can afford
  const r = await timeTrainingStep(backend, shape, { steps: backend.isSoftware ? 1 : steps, sync: () => backend.sync() });
  console.log(JSON.stringify({ ...r, adapter, software: backend.isSoftware }));
  backend.destroy();
}

if (process.argv.includes("--child-webgpu")) {
  await oursWebGPU();
  process.exit(0);
}
if (child >= 0) {
  await ours(Number(process.argv[child + 1]));
  process.exit(0);
}

const python = "/usr/bin/python3";
let torchError = null;
try {
  execFileSync(python, ["-c", "import torch"], { stdio: "pipe" });
} catch (error) {
  torchError = error.code === "ENOENT" ? `${python} not found` : (error.stderr?.toString().trim().split("\n").pop() ?? String(error));
  console.log(`PyTorch: skipped (${torchError}); on Debian: apt-get install -y python3-torch libopenblas0-pthread`);
}

const cores = availableParallelism();
const threadCounts = [...new Set([1, cores])];
console.log(
  `GPT-2 shape: vocab ${shape.vocab}, context ${shape.context}, width ${shape.width}, ${shape.layers} layers, ${shape.heads} heads, ` +
    `batch ${shape.batch} (${tokens} tokens/step); ${cpus()[0]?.model ?? "cpu"} x ${cores}; node ${process.version}; ` +
    `load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
);
const results = [];
for (const threads of threadCounts) {
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), OPENBLAS_NUM_THREADS: String(threads) };
  const run = (cmd, args) => JSON.parse(execFileSync(cmd, args, { encoding: "utf8", env }).trim().split("\n").pop());
  const childArgs = [fileURLToPath(import.meta.url), "--child", String(threads), ...(quick ? ["--quick"] : [])];
  // with relaxed SIMD where this Node has it (see relaxed_simd.mjs), and on plain SIMD
  const us = run(process.execPath, [...relaxedSimdFlags, ...childArgs]);
  const plain = relaxedSimdFlags.length ? run(process.execPath, childArgs) : null;
  const script = fileURLToPath(new URL("./train_torch.py", import.meta.url));
  const torch = torchError ? null : run(python, [script, JSON.stringify({ ...shape, threads, steps })]);
  results.push({ threads, ours: us, oursPlainSimd: plain, pytorch: torch });
  console.log(`\n${threads} thread${threads > 1 ? "s" : ""}:`);
  console.log(
    `  @llm/train (CPU backend${us.relaxedSimd ? ", relaxed SIMD" : ""}): ${us.step_ms.toFixed(0)} ms/step = ${Math.round(us.tokens_per_s).toLocaleString("en-US")} tokens/s (${(us.params / 1e6).toFixed(2)}M parameters)`,
  );
  if (plain) {
    console.log(
      `  @llm/train (plain SIMD): ${plain.step_ms.toFixed(0)} ms/step = ${Math.round(plain.tokens_per_s).toLocaleString("en-US")} tokens/s` +
        (threads === 1 ? `; ${Math.round(plain.tokens_per_cpu_s).toLocaleString("en-US")} per CPU-second` : ""),
    );
  }
  if (torch) {
    console.log(
      `  PyTorch ${torch.torch}: ${torch.step_ms.toFixed(0)} ms/step = ${Math.round(torch.tokens_per_s).toLocaleString("en-US")} tokens/s`,
    );
    console.log(`  ratio @llm/PyTorch: ${(us.tokens_per_s / torch.tokens_per_s).toFixed(2)}x`);
    if (threads === 1) {
      // one thread: per second of process CPU time too, far less disturbed by other load
      console.log(
        `  per CPU-second: ours ${Math.round(us.tokens_per_cpu_s).toLocaleString("en-US")}, PyTorch ${Math.round(torch.tokens_per_cpu_s).toLocaleString("en-US")} tokens = ${(us.tokens_per_cpu_s / torch.tokens_per_cpu_s).toFixed(2)}x`,
      );
    }
  }
}
let webgpuResult = null;
if (webgpu) {
  // Dawn finds SwiftShader through chromium's ICD where there is no GPU driver
  const env = { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? "/tmp" };
  const args = [fileURLToPath(import.meta.url), "--child-webgpu", ...(quick ? ["--quick"] : [])];
  let r = spawnSync(process.execPath, args, { encoding: "utf8", env });
  let line = JSON.parse(r.stdout.trim().split("\n").pop() || "{}");
  if (line.skipped && !env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) {
    r = spawnSync(process.execPath, args, { encoding: "utf8", env: { ...env, VK_ICD_FILENAMES: SWIFTSHADER_ICD } });
    line = JSON.parse(r.stdout.trim().split("\n").pop() || "{}");
  }
  if (r.status !== 0) throw new Error(`the WebGPU child failed: ${r.stderr}`);
  webgpuResult = line;
  console.log("\nWebGPU:");
  if (line.skipped) console.log(`  skipped: ${line.skipped}`);
  else {
    const cpuBest = results[results.length - 1].ours;
    console.log(
      `  @llm/train on @llm/webgpu (${line.adapter}${line.software ? ", a software adapter" : ""}): ${line.step_ms.toFixed(0)} ms/step = ` +
        `${Math.round(line.tokens_per_s).toLocaleString("en-US")} tokens/s (first step, with shader compiles: ${line.first_step_ms.toFixed(0)} ms)`,
    );
    console.log(
      `  ratio WebGPU / CPU backend on ${cpuBest.threads} thread${cpuBest.threads > 1 ? "s" : ""}: ${(line.tokens_per_s / cpuBest.tokens_per_s).toFixed(3)}x`,
    );
  }
}
if (threadCounts.length > 1) {
  const [one, all] = [results[0].ours.tokens_per_s, results[results.length - 1].ours.tokens_per_s];
  console.log(`\nours, ${cores} threads over 1: ${(all / one).toFixed(2)}x`);
}
console.log(
  `load average after ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")} (a shared machine makes every figure noisy)`,
);
const out = fileURLToPath(new URL("../out/bench/", import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  `${out}train.json.tmp`,
  `${JSON.stringify({ benchmark: "train", node: process.version, cores, shape, tokens, results, webgpu: webgpuResult }, null, 2)}\n`,
);
renameSync(`${out}train.json.tmp`, `${out}train.json`);
console.log(`figures written to ${out}train.json`);
