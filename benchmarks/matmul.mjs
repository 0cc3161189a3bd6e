// pnpm bench:matmul — float32 square matmul GFLOP/s: @llm/tensor (CPU backend, pure JS, one thread)
// against @tensorflow/tfjs-backend-cpu and @tensorflow/tfjs-backend-wasm, in one process.
// Each library multiplies the same random matrices; one warm-up, then the best and the median of
// the timed runs (wall clock, including reading the result back). `--quick` runs fewer repeats.
import { matmul, rand } from "@llm/tensor";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { availableParallelism } from "node:os";

const quick = process.argv.includes("--quick");
const sizes = [256, 512, 1024];
const require = createRequire(import.meta.url);
setWasmPaths(join(dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json")), "dist") + "/");

/** Runs fn (async) once to warm up, then `runs` times; returns [best, median] milliseconds. */
async function time(fn, runs) {
  await fn();
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    ms.push(performance.now() - start);
  }
  ms.sort((x, y) => x - y);
  return [ms[0], ms[Math.floor(ms.length / 2)]];
}

function runsFor(n, slow) {
  if (quick) return 1;
  if (slow) return n >= 1024 ? 3 : 5;
  return n >= 1024 ? 5 : n >= 512 ? 9 : 21;
}

async function ours(n) {
  const a = rand([n, n], { seed: 1 });
  const b = rand([n, n], { seed: 2 });
  const result = await time(async () => {
    const c = matmul(a, b);
    await c.data();
    c.dispose();
  }, runsFor(n, false));
  a.dispose();
  b.dispose();
  return result;
}

async function tfjs(backend, n) {
  await tf.setBackend(backend);
  await tf.ready();
  const a = tf.randomUniform([n, n], 0, 1, "float32", 1);
  const b = tf.randomUniform([n, n], 0, 1, "float32", 2);
  const result = await time(async () => {
    const c = tf.matMul(a, b);
    await c.data();
    c.dispose();
  }, runsFor(n, backend === "cpu"));
  a.dispose();
  b.dispose();
  return result;
}

const gflops = (n, ms) => (2 * n ** 3) / ms / 1e6;
const fmt = (x) => x.toFixed(2).padStart(7);

await tf.setBackend("wasm");
await tf.ready();
const { getThreadsCount } = await import("@tensorflow/tfjs-backend-wasm");
console.log(
  `float32 matmul [n,n] x [n,n], GFLOP/s from the best run (median in brackets); node ${process.version}, ` +
    `${availableParallelism()} CPUs, tfjs-backend-wasm threads: ${getThreadsCount()}`,
);
console.log("    n | @llm/tensor cpu      | tfjs-backend-cpu     | tfjs-backend-wasm    | ours/cpu | ours/wasm");
for (const n of sizes) {
  const [ob, om] = await ours(n);
  const [cb, cm] = await tfjs("cpu", n);
  const [wb, wm] = await tfjs("wasm", n);
  const col = (best, median) => `${fmt(gflops(n, best))} (${fmt(gflops(n, median))})`;
  console.log(
    `${String(n).padStart(5)} | ${col(ob, om)}    | ${col(cb, cm)}    | ${col(wb, wm)}    | ${fmt(cb / ob)}x | ${fmt(wb / ob)}x`,
  );
}
