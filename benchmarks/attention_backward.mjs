// node benchmarks/attention_backward.mjs [--threads N] [--reps N] [--steps N] — the attention backward alone, at
// bench:train's shape (batch 16, 4 heads, 128 queries and keys, head size 64, causal mask; q, k
// and v viewed [B, H, T, D] out of [B, T, H, D] as the model makes them): the fused resident kernel
// (FusedKernels.attentionGrad) against the backward autograd composes from primitives (five
// batched products, the recomputed softmax, the mask's `where`, the softmax backward's passes), on
// the same backend, threads and inputs in one process, interleaved. Times forward + backward and
// the forward alone (the same kernel both ways); the backward is the difference. Prints both and the
// ratio. Then bench:train's whole training step (train-step.mjs) with the fused backward and with
// the composed one, alternating in this process N times (--steps, default 3; 0: none), so a
// shared machine's load falls on both alike. Writes out/bench/attention_backward.json. Uses the
// built packages (`pnpm build`).
import { mkdirSync, renameSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { CpuBackend, Rng, causalMask, noGrad, scaledDotProductAttention, setBackend, tensor, tidy } from "../packages/tensor/dist/index.js";
import { TRAIN_SHAPE, timeTrainingStep } from "./train-step.mjs";

const arg = (name, fallback) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
};
const threads = arg("--threads", 1);
const reps = arg("--reps", 15);
const stepPairs = arg("--steps", 3);
const shape = { B: 16, H: 4, T: 128, D: 64 };

const backend = new CpuBackend({ threads });
setBackend(backend);
const fusedGrad = backend.fused.attentionGrad;
const rng = new Rng(3);
const { B, H, T, D } = shape;
const leaf = () =>
  tensor(
    Array.from({ length: B * T * H * D }, () => rng.normal()),
    { shape: [B, T, H, D], requiresGrad: true },
  );
const [q, k, v] = [leaf(), leaf(), leaf()];
const mask = causalMask(T, T);
const w = tensor(
  Array.from({ length: B * H * T * D }, () => rng.normal()),
  { shape: [B, H, T, D] },
);

const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** Wall and CPU milliseconds of fn, best of `reps`. */
function time(fn) {
  let wall = Infinity;
  let cpu = Infinity;
  for (let i = 0; i < reps; i++) {
    const w0 = performance.now();
    const c0 = cpuMs();
    fn();
    wall = Math.min(wall, performance.now() - w0);
    cpu = Math.min(cpu, cpuMs() - c0);
  }
  return { wall, cpu };
}
const attend = () => scaledDotProductAttention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2), { mask });
const forward = () => noGrad(() => tidy(() => attend().dataSync()));
const both = () => {
  for (const x of [q, k, v]) x.zeroGrad();
  tidy(() => attend().mul(w).sum().backward());
  q.grad.dataSync();
};
const withFused = (on, fn) => {
  backend.fused.attentionGrad = on ? fusedGrad : undefined;
  return fn();
};

// warm-up: V8 tiers wasm up in the background, so run each until figures settle
for (let i = 0; i < 3; i++) {
  withFused(true, () => time(both));
  withFused(false, () => time(both));
}
const rounds = [];
for (let round = 0; round < 2; round++) {
  const fwd = time(forward);
  const fused = withFused(true, () => time(both));
  const composed = withFused(false, () => time(both));
  rounds.push({ forward: fwd, fused, composed });
}
const best = (key, part) => Math.min(...rounds.map((r) => r[key][part]));
const fwd = { wall: best("forward", "wall"), cpu: best("forward", "cpu") };
const result = {
  shape: { ...shape, mask: "causal" },
  threads: backend.threads,
  relaxedSimd: backend.relaxedSimd,
  forwardMs: fwd,
  composed: { forwardBackwardMs: { wall: best("composed", "wall"), cpu: best("composed", "cpu") } },
  fused: { forwardBackwardMs: { wall: best("fused", "wall"), cpu: best("fused", "cpu") } },
  loadAverage: loadavg(),
};
for (const kind of ["composed", "fused"]) {
  const r = result[kind];
  r.backwardMs = { wall: r.forwardBackwardMs.wall - fwd.wall, cpu: r.forwardBackwardMs.cpu - fwd.cpu };
}
const f = (x) => x.toFixed(1);
console.log(
  `attention backward, B ${B} H ${H} T ${T} D ${D} causal, ${result.threads} thread(s), ${result.relaxedSimd ? "relaxed" : "plain"} SIMD; load ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
console.log(`  forward (fused, both ways): ${f(fwd.wall)} ms (${f(fwd.cpu)} ms CPU)`);
for (const kind of ["composed", "fused"]) {
  const r = result[kind];
  console.log(
    `  ${kind.padEnd(8)} forward + backward ${f(r.forwardBackwardMs.wall)} ms (${f(r.forwardBackwardMs.cpu)} CPU); backward ${f(r.backwardMs.wall)} ms (${f(r.backwardMs.cpu)} CPU)`,
  );
}
result.ratio = {
  backwardWall: result.composed.backwardMs.wall / result.fused.backwardMs.wall,
  backwardCpu: result.composed.backwardMs.cpu / result.fused.backwardMs.cpu,
};
console.log(
  `  backward, composed / fused: ${result.ratio.backwardWall.toFixed(2)}x wall, ${result.ratio.backwardCpu.toFixed(2)}x CPU time`,
);

if (stepPairs > 0) {
  // the whole step, fused and composed backward alternating (the rest of the step is the same code)
  const steps = { fused: [], composed: [] };
  for (let i = 0; i < stepPairs; i++) {
    for (const kind of ["fused", "composed"]) {
      const r = await withFused(kind === "fused", () => timeTrainingStep(backend, TRAIN_SHAPE, { steps: 2 }));
      steps[kind].push(r);
    }
  }
  backend.fused.attentionGrad = fusedGrad;
  result.trainingStep = {};
  for (const kind of ["composed", "fused"]) {
    const runs = steps[kind];
    const ms = runs.map((r) => r.step_ms);
    const perCpu = runs.map((r) => r.tokens_per_cpu_s);
    result.trainingStep[kind] = { step_ms: ms, tokens_per_cpu_s: perCpu, first_loss: runs[0].first_loss };
    console.log(
      `  training step, ${kind.padEnd(8)} backward: ${ms.map((x) => x.toFixed(0)).join(" / ")} ms; ` +
        `${perCpu.map((x) => x.toFixed(0)).join(" / ")} tokens per CPU-second; first loss ${runs[0].first_loss}`,
    );
  }
  const bestOf = (kind, key, pick) => pick(...result.trainingStep[kind][key]);
  result.trainingStep.ratio = {
    stepMs: bestOf("composed", "step_ms", Math.min) / bestOf("fused", "step_ms", Math.min),
    tokensPerCpuS: bestOf("fused", "tokens_per_cpu_s", Math.max) / bestOf("composed", "tokens_per_cpu_s", Math.max),
  };
  console.log(
    `  training step, fused over composed (best of each): ${result.trainingStep.ratio.stepMs.toFixed(3)}x wall, ${result.trainingStep.ratio.tokensPerCpuS.toFixed(3)}x per CPU-second; load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(" ")}`,
  );
}
mkdirSync("out/bench", { recursive: true });
writeFileSync("out/bench/attention_backward.json.tmp", `${JSON.stringify(result, null, 2)}\n`);
renameSync("out/bench/attention_backward.json.tmp", "out/bench/attention_backward.json");
backend.close();
