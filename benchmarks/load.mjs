// pnpm bench:load — peak memory and time of loading a GPT-2-small-shaped checkpoint (random
// weights: 124M parameters, 498 MB in float32) from a float32 and a float16 model.safetensors.
// Each load runs in a fresh process and reports its peak RSS (the kernel's high-water mark of the
// process's memory, VmHWM in /proc/self/status on Linux) against its RSS just before loading, so
// what counts is the memory the load itself needed. Beside `loadModel` runs the way loading worked before it took ownership
// of what it read (and the way a caller who reads the tensors first still can): read every tensor,
// then copy them into a model built with zeroed parameters (modelFromCheckpoint). And loadModel's
// dtypes: a float16 file kept half (the default, "auto") or widened ("float32"), a float32 file
// quantized to Q8_0 / Q4_0 while it is read (never holding the float32 model). And loadModel
// without its check for NaN and infinities (checkFinite: false), to show what that check costs.
// Writes out/bench/load.json. Uses the built packages (the root script builds them first).
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const OUT = fileURLToPath(new URL("../out/bench/", import.meta.url));
const CHECKPOINTS = `${OUT}load-checkpoints/`;
const quick = process.argv.includes("--quick");

const child = process.argv.indexOf("--child");
const write = process.argv.indexOf("--write");
if (child >= 0) await measure(process.argv[child + 1], process.argv[child + 2]);
else if (write >= 0) {
  const { config, dirs } = JSON.parse(process.argv[write + 1]);
  await writeCheckpoints(config, dirs);
} else await main();

async function main() {
  const config = quick
    ? { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 256, n_layer: 4, n_head: 4 }
    : { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 };
  const shape = quick ? "small GPT-2 (--quick)" : "GPT-2 small shape";
  const dirs = { float32: `${CHECKPOINTS}${quick ? "quick-" : ""}float32`, float16: `${CHECKPOINTS}${quick ? "quick-" : ""}float16` };
  if (!existsSync(`${dirs.float16}/config.json`)) {
    const made = spawnSync(process.execPath, [fileURLToPath(import.meta.url), "--write", JSON.stringify({ config, dirs })], {
      stdio: "inherit",
    });
    if (made.status !== 0) throw new Error("writing the checkpoints failed");
  }

  const rows = [];
  const methods = {
    float32: ["loadModel", "loadModel, no NaN check", "read, then copy", "loadModel q8_0", "loadModel q4_0"],
    float16: ["loadModel", "loadModel float32", "read, then copy"],
  };
  for (const [dtype, dir] of Object.entries(dirs)) {
    for (const method of methods[dtype]) {
      const result = spawnSync(process.execPath, ["--expose-gc", fileURLToPath(import.meta.url), "--child", method, dir], {
        encoding: "utf8",
      });
      if (result.status !== 0) throw new Error(`${method} ${dtype} failed:\n${result.stderr}`);
      rows.push({ file: dtype, method, ...JSON.parse(result.stdout) });
    }
  }
  const mb = (bytes) => (bytes / 1e6).toFixed(0);
  console.log(`${shape}: ${(rows[0].parameters / 1e6).toFixed(1)}M parameters; node ${process.version}`);
  console.log(
    "file     method                  weights kept   load ms   RSS before   peak RSS   peak - before   (peak - before) / weights kept   pooled after",
  );
  for (const r of rows) {
    console.log(
      `${r.file.padEnd(8)} ${r.method.padEnd(23)} ${mb(r.weightBytes).padStart(9)} MB ${String(Math.round(r.ms)).padStart(7)}   ${mb(r.rssBefore).padStart(7)} MB  ${mb(r.peakRss).padStart(6)} MB  ${mb(r.peakRss - r.rssBefore).padStart(10)} MB   ${((r.peakRss - r.rssBefore) / r.weightBytes).toFixed(2).padStart(20)}x   ${mb(r.pooledBytes)} MB`,
    );
  }
  for (const dtype of Object.keys(dirs)) {
    const ours = rows.find((r) => r.file === dtype && r.method === (dtype === "float16" ? "loadModel float32" : "loadModel"));
    const copy = rows.find((r) => r.file === dtype && r.method === "read, then copy");
    console.log(
      `${dtype} file to float32: ${ours.method} needs ${((copy.peakRss - copy.rssBefore) / (ours.peakRss - ours.rssBefore)).toFixed(2)}x less memory than reading then copying`,
    );
  }
  const [checked, unchecked] = ["loadModel", "loadModel, no NaN check"].map((m) =>
    rows.find((r) => r.file === "float32" && r.method === m),
  );
  console.log(
    `the NaN/Inf check (on by default at this size) takes ${Math.round(checked.ms - unchecked.ms)} ms of ${Math.round(checked.ms)} (${((checked.ms / unchecked.ms - 1) * 100).toFixed(1)}%)`,
  );
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}load.json`, `${JSON.stringify({ shape, config, node: process.version, rows }, null, 2)}\n`);
  console.log(`wrote ${OUT}load.json`);
}

async function writeCheckpoints(config, dirs) {
  const { createModel } = await import("../packages/models/dist/index.js");
  const { saveModel } = await import("../packages/models/dist/node.js");
  const { writeCheckpointFolder } = await import("../packages/tensor/dist/node.js");
  const model = createModel(config, { seed: 0 });
  await saveModel(model, dirs.float32);
  const { config: saved, tensors } = model.toCheckpoint();
  const halves = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [name, t.cast("float16")]));
  await writeCheckpointFolder(dirs.float16, { config: { ...saved, torch_dtype: "float16" }, tensors: halves });
}

/** One load in this (fresh) process: RSS before, the peak, the time, and what the CPU pool keeps idle. */
async function measure(method, dir) {
  const { BYTES_PER_ELEMENT, cpuBackend } = await import("../packages/tensor/dist/index.js");
  const { readSafetensorsCheckpoint } = await import("../packages/tensor/dist/node.js");
  const { modelFromCheckpoint } = await import("../packages/models/dist/index.js");
  const { loadModel } = await import("../packages/models/dist/node.js");
  globalThis.gc();
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  let model;
  if (method === "loadModel, no NaN check") {
    model = await loadModel(dir, { checkFinite: false });
  } else if (method.startsWith("loadModel")) {
    model = await loadModel(dir, { dtype: method.split(" ")[1] ?? "auto" });
  } else {
    const config = JSON.parse(readFileSync(`${dir}/config.json`, "utf8"));
    const tensors = await readSafetensorsCheckpoint(dir, { dtype: "float32" });
    model = modelFromCheckpoint(config, tensors);
    for (const t of Object.values(tensors)) t.dispose();
  }
  const ms = performance.now() - start;
  const peakRss = highWaterRss();
  const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
  const weightBytes = model.parameters().reduce((n, p) => n + p.size * BYTES_PER_ELEMENT[p.dtype], 0);
  console.log(JSON.stringify({ ms, rssBefore, peakRss, parameters, weightBytes, pooledBytes: cpuBackend.pooledBytes }));
}

/**
 * The process's peak RSS. Linux's VmHWM belongs to this process image; maxRSS (getrusage) would
 * also count the parent's memory at the fork that started it.
 */
function highWaterRss() {
  try {
    const status = readFileSync("/proc/self/status", "utf8");
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status);
    if (kb) return Number(kb[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
