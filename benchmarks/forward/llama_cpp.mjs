// The llama.cpp side of `pnpm bench:forward`, in a process of its own (its peak RSS is its own):
// node-llama-cpp (native llama.cpp, CPU only) loads model.gguf and times the same work as ours:
// a random prompt evaluated into a fresh sequence up to its first generated token (prefill: the
// head runs for the last position only), then greedy decoding token by token.
// Usage: node llama_cpp.mjs <model dir> <threads> <prompt tokens> <decode tokens>; prints one JSON line.
import { getLlama, LlamaLogLevel } from "node-llama-cpp";
import { promptIds } from "./prompt.mjs";

const [dir, threadsArg, promptArg, decodeArg] = process.argv.slice(2);
const threads = Number(threadsArg);
const decodeSteps = Number(decodeArg);
const config = JSON.parse(await import("node:fs/promises").then((fs) => fs.readFile(`${dir}/config.json`, "utf8")));
const vocab = config.vocab_size;
const contextLength = config.n_positions ?? config.max_position_embeddings;

const llama = await getLlama({ gpu: false, build: "never", maxThreads: threads, logLevel: LlamaLogLevel.error });
const start = performance.now();
const model = await llama.loadModel({ modelPath: `${dir}/model.gguf`, gpuLayers: 0 });
const loadMs = performance.now() - start;
const context = await model.createContext({ contextSize: contextLength, batchSize: Number(promptArg), threads, flashAttention: false });
const sequence = context.getSequence();

async function run(prompt, steps) {
  await sequence.clearHistory();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const tokens = sequence.evaluate(prompt, { temperature: 0 });
  await tokens.next(); // the prompt evaluated and the first token sampled
  const t1 = performance.now();
  const c1 = process.cpuUsage();
  for (let i = 0; i < steps; i++) await tokens.next();
  const t2 = performance.now();
  const c2 = process.cpuUsage();
  await tokens.return();
  const ms = (a, b) => (b.user + b.system - a.user - a.system) / 1e3;
  return { prefillMs: t1 - t0, decodeMs: t2 - t1, prefillCpuMs: ms(c0, c1), decodeCpuMs: ms(c1, c2) };
}

// Warm-up: the same work once on another prompt, as every contender does (ours.mjs says why).
const prompt = promptIds(Number(promptArg), vocab, 1);
await run(promptIds(prompt.length, vocab, 2), decodeSteps);
const { prefillMs, decodeMs, prefillCpuMs, decodeCpuMs } = await run(prompt, decodeSteps);
console.log(
  JSON.stringify({
    prefillTokensPerS: (prompt.length / prefillMs) * 1e3,
    decodeTokensPerS: (decodeSteps / decodeMs) * 1e3,
    prefillTokensPerCpuS: (prompt.length / prefillCpuMs) * 1e3,
    decodeTokensPerCpuS: (decodeSteps / decodeCpuMs) * 1e3,
    loadMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }),
);
await context.dispose();
await model.dispose();
