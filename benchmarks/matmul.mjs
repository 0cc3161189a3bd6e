// pnpm bench:matmul — float32 square matmul GFLOP/s: @llm/tensor (CPU backend, one thread: its
// default WASM SIMD kernel, and its pure-JS kernel for reference) against
// @tensorflow/tfjs-backend-cpu and @tensorflow/tfjs-backend-wasm, in one process.
// Each library multiplies the same random matrices; one warm-up, then the best and the median of
// the timed runs (wall clock, including reading the result back). `--quick` runs fewer repeats.
import { CpuBackend, matmul, rand, setBackend } from "@llm/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { availableParallelism, loadavg } from "node:os";

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

/** Our CPU backend, with the WASM kernel (the default) or without it. */
async function ours(n, wasm) {
  setBackend(new CpuBackend({ wasm }));
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
console.log(
  `float32 matmul [n,n] x [n,n], GFLOP/s from the best run (median in brackets); node ${process.version}, ` +
    `${availableParallelism()} CPUs (load average ${loadavg()[0].toFixed(1)}), tfjs-backend-wasm threads: ${getThreadsCount()}`,
);
console.log("    n | @llm/tensor cpu      | (its JS kernel)      | tfjs-backend-cpu     | tfjs-backend-wasm    | ours/cpu | ours/wasm");
const byCpu = [];
for (const n of sizes) {
  const o = await ours(n, true);
  const j = await ours(n, false);
  const c = await tfjs("cpu", n);
  const w = await tfjs("wasm", n);
  const col = (t) => `${fmt(gflops(n, t.best))} (${fmt(gflops(n, t.median))})`;
  console.log(
    `${String(n).padStart(5)} | ${col(o)}    | ${col(j)}    | ${col(c)}    | ${col(w)}    | ` +
      `${fmt(c.best / o.best)}x | ${fmt(w.best / o.best)}x`,
  );
  const pad = (t) => `${fmt(gflops(n, t.cpu))}              `;
  byCpu.push(`${String(n).padStart(5)} | ${pad(o)}| ${pad(j)}| ${pad(c)}| ${pad(w)}| ${fmt(c.cpu / o.cpu)}x | ${fmt(w.cpu / o.cpu)}x`);
}
console.log("\nthe same runs, GFLOP/s from the best process CPU time:");
for (const line of byCpu) console.log(line);
