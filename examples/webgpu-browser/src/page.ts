/**
 * The page: load a fixture over HTTP, run greedy decoding with the KV cache on WebGPU, and report
 * the tokens next to the reference ones (window.__result, for the playwright-driven test).
 */
import { createWebGPUBackend } from "@llm/webgpu";
import { loadSafetensors, noGrad, setBackend, tensor, tidy, type Tensor } from "@llm/tensor";
import { modelFromCheckpoint } from "@llm/models";

export interface PageResult {
  ok: boolean;
  ids: number[];
  expected: number[];
  adapter: string;
  milliseconds: number;
  error?: string;
}

const status = document.getElementById("status")!;
const log = (line: string) => (status.textContent += `\n${line}`);

async function fetchBytes(url: string): Promise<Uint8Array> {
  const r = await fetch(url);
  if (!r.ok) throw new Error(`GET ${url}: HTTP ${r.status}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function run(fixture: string): Promise<PageResult> {
  const start = performance.now();
  const backend = await createWebGPUBackend();
  const info = backend.adapterInfo;
  const adapter = `${info?.vendor ?? ""} ${info?.architecture ?? ""}`.trim() || "unknown";
  log(`adapter: ${adapter}`);
  setBackend(backend);
  const base = new URL(`../../fixtures/models/${fixture}/`, location.href);
  const config = (await (await fetch(new URL("config.json", base))).json()) as Record<string, unknown>;
  const weights = loadSafetensors(await fetchBytes(new URL("model.safetensors", base).href));
  const ref = loadSafetensors(await fetchBytes(new URL("reference.safetensors", base).href));
  const model = modelFromCheckpoint(config, weights, fixture);
  const expected = Array.from(await ref.gen_ids!.data());
  const cache = model.createCache();
  const ids: number[] = [];
  let next: Tensor = ref.gen_prompt!;
  for (let step = 0; step < expected.length; step++) {
    const best = noGrad(() =>
      tidy(() => {
        const logits = model.forward(next, { cache });
        return logits
          .slice(1, logits.shape[1]! - 1)
          .reshape(-1)
          .argmax(0);
      }),
    );
    const id = (await best.data())[0]!;
    best.dispose();
    ids.push(id);
    log(`token ${step + 1}: ${id} (reference ${expected[step]})`);
    next = tensor([[id]], { dtype: "int32" });
  }
  cache.dispose();
  const ok = ids.length === expected.length && ids.every((v, i) => v === expected[i]);
  return { ok, ids, expected, adapter, milliseconds: performance.now() - start };
}

const fixture = new URLSearchParams(location.search).get("fixture") ?? "gpt2";
const w = window as unknown as { __result?: PageResult };
run(fixture).then(
  (r) => {
    log(r.ok ? `OK: greedy tokens match the reference (${r.milliseconds.toFixed(0)} ms)` : "MISMATCH with the reference tokens");
    w.__result = r;
  },
  (e: Error) => {
    log(`error: ${e.message}`);
    w.__result = { ok: false, ids: [], expected: [], adapter: "", milliseconds: 0, error: e.message };
  },
);
