// pnpm bench:matmul — float32 square matmul GFLOP/s: @llm/tensor (CPU backend: its WASM SIMD
// kernel on one thread and on all cores, and its pure-JS kernel for reference) against
// @tensorflow/tfjs-backend-cpu and @tensorflow/tfjs-backend-wasm, in one process, beside the
// WebAssembly SIMD peak of this core, measured in the same run by a kernel that only multiplies
// and adds registers (benchmarks/matmul/peak.mjs). Each library multiplies the same random
// matrices; one warm-up, then the best and the median of the timed runs (wall clock, including
// reading the result back). `--quick` runs fewer repeats. Writes out/bench/matmul.json.
import { CpuBackend, matmul, rand, setBackend } from "@llm/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { availableParallelism, loadavg } from "node:os";
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { simdPeak } from "./matmul/peak.mjs";

const quick = process.argv.includes("--quick");
const sizes = [256, 512, 1024];
const require = createRequire(import.meta.url);
setWasmPaths(`${join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist")}/`);

/**
 * Runs fn (async) once to warm up, then `runs` times. Returns the best and median wall-clock
 * milliseconds, and the best process CPU milliseconds: every contender is single-threaded, so CPU
 * time equals wall time on an idle machine and is far less disturbed by other load on a busy one.
 */
async function time(fn, runs) {
  await fn();
  const wall = [];
  let cpu = Infinity;
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    const usage = process.cpuUsage();
    await fn();
    const { user, system } = process.cpuUsage(usage);
    wall.push(performance.now() - start);
    cpu = Math.min(cpu, (user + system) / 1000);
  }
  wall.sort((x, y) => x - y);
  return { best: wall[0], median: wall[Math.floor(wall.length / 2)], cpu };
}

function runsFor(n, slow) {
  if (quick) return 1;
  if (slow) return n >= 1024 ? 3 : 5;
  return n >= 1024 ? 5 : n >= 512 ? 9 : 21;
}

const cores = availableParallelism();

/** Our CPU backend, with the WASM kernel (the default) or without it, on `threads` threads. */
async function ours(n, wasm, threads = 1) {
  const backend = new CpuBackend({ wasm, threads });
  setBackend(backend);
  const a = rand([n, n], { seed: 1 });
  const b = rand([n, n], { seed: 2 });
  const result = await time(
    async () => {
      const c = matmul(a, b);
      await c.data();
      c.dispose();
    },
    runsFor(n, !wasm),
  );
  a.dispose();
  b.dispose();
  backend.close();
  return result;
}

async function useTfjs(backend) {
  await tf.setBackend(backend);
  await tf.ready();
  // tfjs-backend-cpu prints a banner recommending tfjs-node on its first upload; keep the table clean.
  if (backend === "cpu") tf.backend().firstUse = false;
}

async function tfjs(backend, n) {
  await useTfjs(backend);
  const a = tf.randomUniform([n, n], 0, 1, "float32", 1);
  const b = tf.randomUniform([n, n], 0, 1, "float32", 2);
  const result = await time(
    async () => {
      const c = tf.matMul(a, b);
      await c.data();
      c.dispose();
    },
    runsFor(n, backend === "cpu"),
  );
  a.dispose();
  b.dispose();
  return result;
}

const gflops = (n, ms) => (2 * n ** 3) / ms / 1e6;
const fmt = (x) => x.toFixed(2).padStart(7);

await useTfjs("wasm");
const { getThreadsCount } = await import("@tensorflow/tfjs-backend-wasm");
const peak = simdPeak(false);
const peakFma = simdPeak(true);
const fma = new CpuBackend({ threads: 1 }).relaxedSimd;
console.log(
  `float32 matmul [n,n] x [n,n], GFLOP/s from the best run (median in brackets); node ${process.version}, ` +
    `${cores} CPUs (load average ${loadavg()[0].toFixed(1)}), tfjs-backend-wasm threads: ${getThreadsCount()}`,
);
console.log(
  `WebAssembly SIMD peak of this core (register-only kernel, process CPU time): ${peak.toFixed(1)} GFLOP/s with multiply + add` +
    (peakFma ? `, ${peakFma.toFixed(1)} with relaxed SIMD's fused multiply-add` : " (no relaxed SIMD here)") +
    `; our kernels use ${fma ? "the fused multiply-add" : "multiply + add"}`,
);
const allCores = `all ${cores} cores`.padEnd(21);
console.log(
  `    n | @llm/tensor 1 thread | ${allCores}| (its JS kernel)      | tfjs-backend-cpu     | tfjs-backend-wasm    | ours/cpu | ours/wasm`,
);
const byCpu = [];
const rows = [];
for (const n of sizes) {
  const o = await ours(n, true, 1);
  const all = cores > 1 ? await ours(n, true, cores) : o;
  const j = await ours(n, false);
  const c = await tfjs("cpu", n);
  const w = await tfjs("wasm", n);
  const col = (t) => `${fmt(gflops(n, t.best))} (${fmt(gflops(n, t.median))})`;
  console.log(
    `${String(n).padStart(5)} | ${col(o)}    | ${col(all)}    | ${col(j)}    | ${col(c)}    | ${col(w)}    | ` +
      `${fmt(c.best / o.best)}x | ${fmt(w.best / o.best)}x`,
  );
  const pad = (t) => `${fmt(gflops(n, t.cpu))}              `;
  byCpu.push(
    `${String(n).padStart(5)} | ${pad(o)}| ${" ".repeat(21)}| ${pad(j)}| ${pad(c)}| ${pad(w)}| ${fmt(c.cpu / o.cpu)}x | ${fmt(w.cpu / o.cpu)}x`,
  );
  const g = (t) => ({ best: gflops(n, t.best), median: gflops(n, t.median), cpu: gflops(n, t.cpu) });
  rows.push({ n, ours: g(o), oursAllCores: g(all), oursJs: g(j), tfjsCpu: g(c), tfjsWasm: g(w) });
}
console.log("\nthe same runs, GFLOP/s from the best process CPU time (the all-cores column has no single-thread CPU time):");
for (const line of byCpu) console.log(line);
const last = rows[rows.length - 1];
const usedPeak = fma && peakFma ? peakFma : peak;
console.log(
  `\nours at ${last.n}, one thread: ${last.ours.cpu.toFixed(1)} GFLOP/s by CPU time = ${((100 * last.ours.cpu) / usedPeak).toFixed(0)}% of the ` +
    `${usedPeak.toFixed(1)} GFLOP/s peak; all ${cores} cores: ${last.oursAllCores.best.toFixed(1)} GFLOP/s = ` +
    `${(last.oursAllCores.best / last.ours.best).toFixed(2)}x one thread (wall clock)`,
);
const out = fileURLToPath(new URL("../out/bench/", import.meta.url));
mkdirSync(out, { recursive: true });
writeFileSync(
  `${out}matmul.json.tmp`,
  `${JSON.stringify({ benchmark: "matmul", node: process.version, cores, loadavg: loadavg(), peak: { multiplyAdd: peak, fusedMultiplyAdd: peakFma }, relaxedSimd: fma, rows }, null, 2)}\n`,
);
renameSync(`${out}matmul.json.tmp`, `${out}matmul.json`);
