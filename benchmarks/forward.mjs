// pnpm bench:forward — CPU inference: @llm/models on the CPU backend beside native llama.cpp
// (node-llama-cpp 3.21.1) and PyTorch (/usr/bin/python3, Debian's python3-torch), on the same
// random float32 weights: GPT-2-small (124M) and a TinyLlama-1.1B-shaped LLaMA. For each shape and
// thread count (1, and all cores), each contender in a fresh process of its own: load the model,
// warm up, evaluate a 128-token prompt with the head on its last position (prefill), then decode
// greedily with the KV cache. Ours runs twice: with relaxed SIMD (a flag on Node 20, on by default
// since Node 22; see relaxed_simd.mjs) and on plain 128-bit SIMD. Prints tokens/s and peak RSS (and its ratio to the weights) with
// ours-to-peer ratios, and writes everything to out/bench/forward.json.
//
// The weights are written once into out/bench/models/<shape>/ by benchmarks/forward/weights.py
// (a Hugging Face folder for us and PyTorch, model.gguf for llama.cpp, the same values), in a
// Python venv (out/bench/venv) with numpy and gguf from the local wheelhouse.
//
// Options: --quick (GPT-2 only, 8 decode steps), --shapes gpt2,tinyllama, --threads 1,2,
// --repeat N (each measurement N times, the best kept). Uses the built packages.
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, renameSync, statSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { relaxedSimdFlags } from "./relaxed_simd.mjs";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const here = join(root, "benchmarks", "forward");
const out = join(root, "out", "bench");
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = args.includes("--quick");
const shapes = option("shapes", quick ? "gpt2" : "gpt2,tinyllama").split(",");
const cores = availableParallelism();
const threadCounts = option("threads", [...new Set([1, cores])].join(","))
  .split(",")
  .map(Number);
const repeat = Number(option("repeat", "1"));
const promptLength = 128;
const decodeSteps = { gpt2: quick ? 8 : 32, tinyllama: quick ? 4 : 16 };
const PYTHON = "/usr/bin/python3";

/** out/bench/venv with numpy and gguf, made on first use. */
function venvPython() {
  const python = join(out, "venv", "bin", "python");
  if (existsSync(python)) return python;
  console.log("making out/bench/venv (numpy, gguf) for the weights writer ...");
  execFileSync("python3", ["-m", "venv", join(out, "venv")], { stdio: "inherit" });
  const links = ["/opt/pypi/files", "/opt/pypi-more/files", "/opt/wheels"].filter(existsSync).flatMap((d) => ["--find-links", d]);
  execFileSync(python, ["-m", "pip", "install", "-q", ...(links.length ? ["--no-index", ...links] : []), "numpy", "gguf"], {
    stdio: "inherit",
  });
  return python;
}

/** The shape's folder, its weights written first when missing. */
function weights(shape) {
  const dir = join(out, "models", shape);
  if (!["config.json", "model.safetensors", "model.gguf"].every((f) => existsSync(join(dir, f)))) {
    console.log(`writing the random ${shape} weights (safetensors and GGUF) to ${dir} ...`);
    execFileSync(venvPython(), [join(here, "weights.py"), shape, dir], { stdio: ["ignore", "inherit", "inherit"] });
  }
  return { dir, bytes: statSync(join(dir, "model.safetensors")).size };
}

// ours with relaxed SIMD where this Node has it (behind a flag on Node 20, on by default since
// Node 22), and ours on plain 128-bit SIMD (what Node 20 gives without the flag)
const contenders = {
  ours: (dir, threads, decode) => [process.execPath, [...relaxedSimdFlags, join(here, "ours.mjs"), dir, threads, promptLength, decode]],
  "ours (plain SIMD)": (dir, threads, decode) => [process.execPath, [join(here, "ours.mjs"), dir, threads, promptLength, decode]],
  "llama.cpp": (dir, threads, decode) => ["node", [join(here, "llama_cpp.mjs"), dir, threads, promptLength, decode]],
  pytorch: (dir, threads, decode) => [PYTHON, [join(here, "torch_peer.py"), dir, threads, promptLength, decode]],
};

/** One measurement in a fresh process: its JSON line, or why it could not run. */
function measure(name, dir, threads, decode) {
  const [cmd, argv] = contenders[name](dir, threads, decode);
  const env = { ...process.env, OMP_NUM_THREADS: String(threads), LLM_TENSOR_THREADS: String(threads) };
  const r = spawnSync(cmd, argv.map(String), { encoding: "utf8", env, maxBuffer: 1 << 24 });
  const line = r.stdout?.trim().split("\n").pop();
  try {
    return JSON.parse(line);
  } catch {
    const why = (r.error?.message ?? r.stderr?.trim().split("\n").slice(-3).join(" ") ?? "no output").slice(0, 300);
    return { error: why };
  }
}

/** ours over a peer, prefill and decode ("-" where either failed). */
const ratios = (ours, m, prefill, decode) =>
  !ours || ours.error ? "-" : `${fmt(ours[prefill] / m[prefill], 2)}x, ${fmt(ours[decode] / m[decode], 2)}x`;
const fmt = (x, digits = 1) => (x === undefined ? "-" : x.toFixed(digits));
const results = [];
const started = { loadavg: loadavg(), at: new Date().toISOString() };
console.log(
  `CPU inference, float32, prompt ${promptLength} tokens; ${cpus()[0]?.model ?? "cpu"} x ${cores} logical cores; node ${process.version}; load average ${loadavg()
    .map((l) => l.toFixed(1))
    .join(" ")}`,
);
for (const shape of shapes) {
  const { dir, bytes } = weights(shape);
  for (const threads of threadCounts) {
    const row = { shape, threads, weightsBytes: bytes, contenders: {} };
    for (let r = 0; r < repeat; r++) {
      for (const name of Object.keys(contenders)) {
        const m = measure(name, dir, threads, decodeSteps[shape]);
        const best = row.contenders[name];
        if (
          !best ||
          best.error ||
          (!m.error && m.decodeTokensPerS + m.prefillTokensPerS > best.decodeTokensPerS + best.prefillTokensPerS)
        ) {
          row.contenders[name] = m;
        }
      }
    }
    results.push(row);
    const ours = row.contenders.ours;
    const plain = row.contenders["ours (plain SIMD)"];
    console.log(`\n${shape} (${(bytes / 1e9).toFixed(2)} GB of weights), ${threads} thread${threads > 1 ? "s" : ""}:`);
    const cpu = threads === 1;
    console.log(
      `  contender           prefill tok/s   decode tok/s   peak RSS (x weights)   ours / it (prefill, decode) [plain SIMD / it]${cpu ? "   {per CPU-second: prefill, decode; ours / it}" : ""}`,
    );
    for (const [name, m] of Object.entries(row.contenders)) {
      if (m.error) {
        console.log(`  ${name.padEnd(18)}  unavailable: ${m.error}`);
        continue;
      }
      const peer = !name.startsWith("ours");
      const rss = `${(m.peakRssBytes / 2 ** 20).toFixed(0)} MiB (${(m.peakRssBytes / bytes).toFixed(2)}x)`;
      const ratio = peer
        ? `${ratios(ours, m, "prefillTokensPerS", "decodeTokensPerS")} [${ratios(plain, m, "prefillTokensPerS", "decodeTokensPerS")}]`
        : "";
      // one thread: tokens per second of process CPU time too, far less disturbed by other load
      const perCpu = !cpu
        ? ""
        : `   {${fmt(m.prefillTokensPerCpuS)}, ${fmt(m.decodeTokensPerCpuS)}${
            peer ? `; ${ratios(ours, m, "prefillTokensPerCpuS", "decodeTokensPerCpuS")}` : ""
          }}`;
      console.log(
        `  ${name.padEnd(18)}  ${fmt(m.prefillTokensPerS).padStart(13)}   ${fmt(m.decodeTokensPerS).padStart(12)}   ${rss.padStart(20)}   ${ratio.padEnd(28)}${perCpu}`,
      );
    }
  }
}
const finished = { loadavg: loadavg(), at: new Date().toISOString() };
console.log(
  `\nload average before ${started.loadavg.map((l) => l.toFixed(1)).join(" ")}, after ${finished.loadavg.map((l) => l.toFixed(1)).join(" ")} (a shared machine makes every figure noisy)`,
);

mkdirSync(out, { recursive: true });
const file = join(out, "forward.json");
writeFileSync(
  `${file}.tmp`,
  `${JSON.stringify({ benchmark: "forward", node: process.version, oursNodeFlags: relaxedSimdFlags, cpu: cpus()[0]?.model, cores, promptLength, decodeSteps, started, finished, results }, null, 2)}\n`,
);
renameSync(`${file}.tmp`, file);
console.log(`figures written to ${file}`);
