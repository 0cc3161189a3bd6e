// Our side of `pnpm bench:forward`, in a process of its own (its peak RSS is its own): @llm/models
// loads the checkpoint folder onto a CPU backend with the given threads (each tensor read straight
// into WebAssembly memory), then times the same work as the peers: the prompt in one forward with
// the head on its last position (prefill, as generation runs it), then greedy decoding with the KV
// cache. Usage: node ours.mjs <model dir> <threads> <prompt tokens> <decode tokens>; prints one JSON line.
import { loadModel } from "../../packages/models/dist/node.js";
import { CpuBackend, noGrad, setBackend, tensor } from "../../packages/tensor/dist/index.js";
import { promptIds } from "./prompt.mjs";

const [dir, threadsArg, promptArg, decodeArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const decodeSteps = Number(decodeArg);
const backend = new CpuBackend({ threads });
setBackend(backend);

const start = performance.now();
const model = await loadModel(dir);
const loadMs = performance.now() - start;
const vocab = model.config.vocabSize;

function run(prompt, steps) {
  return noGrad(() => {
    const cache = model.createCache();
    const ids = tensor([prompt], { dtype: "int32" });
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let logits = model.forward(ids, { cache, logitsToKeep: 1 });
    // [1, 1, vocab] -> [1, 1]: the next ids, no views of the logits left to the garbage collector
    // (a dropped view keeps its logits' block until collected: 6 MiB of peak RSS over 32 tokens)
    let next = logits.argmax(-1);
    next.dataSync(); // the first token chosen
    const t1 = performance.now();
    const c1 = process.cpuUsage();
    for (let i = 0; i < steps; i++) {
      logits.dispose();
      logits = model.forward(next, { cache });
      next.dispose();
      next = logits.argmax(-1);
      next.dataSync();
    }
    const t2 = performance.now();
    const c2 = process.cpuUsage();
    logits.dispose();
    next.dispose();
    ids.dispose();
    cache.dispose();
    const ms = (a, b) => (b.user + b.system - a.user - a.system) / 1e3;
    return { prefillMs: t1 - t0, decodeMs: t2 - t1, prefillCpuMs: ms(c0, c1), decodeCpuMs: ms(c1, c2) };
  });
}

// Warm-up: the same work once on another prompt. It compiles the kernels, starts the threads and
// lets V8 tier the hot WebAssembly and JS up to optimized code (it does that in the background
// after a function has run a while; two decode steps were not enough: the timed decode then ran
// partly on baseline code, 25-36 tok/s against 38-40 after a longer warm-up).
const prompt = promptIds(Number(promptArg), vocab, 1);
run(promptIds(prompt.length, vocab, 2), decodeSteps);
const { prefillMs, decodeMs, prefillCpuMs, decodeCpuMs } = run(prompt, decodeSteps);
console.log(
  JSON.stringify({
    prefillTokensPerS: (prompt.length / prefillMs) * 1e3,
    decodeTokensPerS: (decodeSteps / decodeMs) * 1e3,
    prefillTokensPerCpuS: (prompt.length / prefillCpuMs) * 1e3,
    decodeTokensPerCpuS: (decodeSteps / decodeCpuMs) * 1e3,
    loadMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    threads: backend.threads,
    relaxedSimd: backend.relaxedSimd,
    memories: backend.memories,
  }),
);
backend.close();
