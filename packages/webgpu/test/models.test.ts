/**
 * Every model fixture on WebGPU: the checkpoint loads onto the GPU, the logits match the
 * reference within 1e-3, the greedy tokens are identical with and without the KV cache, and a
 * cached decoding step leaves the number of live GPU buffers where it was.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { concat, cpuBackend, loadSafetensors, noGrad, setBackend, tensor, tidy, type Tensor } from "@llm/tensor";
import type { ForwardOptions } from "@llm/layers";
import { glmBlockMask, modelFromCheckpoint, type Model } from "@llm/models";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

const FIXTURES = new URL("../../../fixtures/models/", import.meta.url);

interface Fixture {
  name: string;
  config: Record<string, unknown>;
  weights: Record<string, Tensor>;
  reference: Record<string, Tensor>;
}

/** A fixture's checkpoint and reference tensors, loaded straight onto the WebGPU backend. */
function readFixture(name: string): Fixture {
  const file = (f: string) => readFileSync(new URL(`${name}/${f}`, FIXTURES));
  return {
    name,
    config: JSON.parse(file("config.json").toString("utf8")) as Record<string, unknown>,
    weights: loadSafetensors(file("model.safetensors"), { backend: backend! }),
    reference: loadSafetensors(file("reference.safetensors"), { backend: backend! }),
  };
}

async function maxAbsDiff(a: Tensor, b: Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [await a.data(), await b.data()];
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** GLM's generation positions: Part A 0..sep-1, then [MASK]'s position (2) with block 1, 2, ... */
function glmPositions(sep: number, total: number): Tensor {
  const position = Array.from({ length: total }, (_, i) => (i < sep ? i : 2));
  const block = Array.from({ length: total }, (_, i) => (i < sep ? 0 : i - sep + 1));
  return tensor([[position, block]], { dtype: "int32" });
}

async function batchOptions(f: Fixture, ref: Record<string, Tensor>): Promise<ForwardOptions> {
  if (f.name !== "glm") return {};
  const ids = ref.input_ids!;
  const sep = (await ref.sep!.data())[0]!;
  return { positionIds: ref.position_ids!, attentionMask: glmBlockMask(ids.shape[0]!, ids.shape[1]!, sep) };
}

/** Greedy decoding; returns the ids, the last-position logits, and live buffers after each step. */
async function greedy(model: Model, f: Fixture, ref: Record<string, Tensor>, useCache: boolean) {
  const steps = ref.gen_ids!.shape[1]!;
  const glm = f.name === "glm";
  const sopId = glm ? (f.config.special_tokens as Record<string, number>).sop! : 0;
  const sop = glm ? tensor([[sopId]], { dtype: "int32" }) : null;
  const prompt = sop ? concat([ref.gen_partA!, sop], 1) : ref.gen_prompt!;
  const sep = ref.gen_partA?.shape[1] ?? 0;
  const cache = useCache ? model.createCache() : undefined;
  const ids: number[] = [];
  const logits: Float32Array[] = [];
  const live: number[] = [];
  let sequence = prompt;
  let next = prompt;
  for (let step = 0; step < steps; step++) {
    const last = noGrad(() =>
      tidy(() => {
        const input = useCache ? next : sequence;
        const options: ForwardOptions = { cache };
        const total = sequence.shape[1]! + 0;
        if (glm) {
          options.positionIds = glmPositions(sep, total).slice(2, total - input.shape[1]!);
          if (!useCache || step === 0) options.attentionMask = glmBlockMask(1, total, sep);
        }
        const out = model.forward(input, options);
        return out.slice(1, out.shape[1]! - 1).reshape(-1);
      }),
    );
    const values = (await last.data()) as Float32Array;
    // Inside tidy: argmax without keepdim is a view of a [1] tensor that tidy frees.
    const best = tidy(() => last.argmax(0));
    const id = (await best.data())[0]!;
    best.dispose();
    logits.push(values);
    ids.push(id);
    last.dispose();
    if (next !== prompt) next.dispose();
    next = tensor([[id]], { dtype: "int32" });
    const grown = concat([sequence, next], 1);
    if (sequence !== prompt) sequence.dispose();
    sequence = grown;
    live.push(backend!.stats().liveBuffers);
  }
  cache?.dispose();
  if (next !== prompt) next.dispose();
  if (sequence !== prompt) sequence.dispose();
  if (sop) {
    sop.dispose();
    prompt.dispose();
  }
  return { ids, logits, live };
}

describe.skipIf(!backend)("model fixtures on WebGPU", () => {
  describe.each(readdirSync(FIXTURES).sort())("%s", (name) => {
    it("matches the reference logits (1e-3) and greedy tokens, with and without the KV cache, without leaking buffers", async () => {
      const f = readFixture(name);
      const ref = f.reference;
      setBackend(backend!);
      try {
        const model = modelFromCheckpoint(f.config, f.weights, name);
        const options = await batchOptions(f, ref);
        const scored = noGrad(() => model.forward(ref.input_ids!, options));
        const logitsError = await maxAbsDiff(scored, ref.logits!);
        expect(logitsError, "logits").toBeLessThanOrEqual(1e-3);
        const expectedIds = Array.from(await ref.gen_ids!.data());
        for (const useCache of [false, true]) {
          const before = backend!.stats().liveBuffers;
          const g = await greedy(model, f, ref, useCache);
          expect(backend!.stats().liveBuffers, "live buffers after decoding, cache disposed").toBe(before);
          expect(g.ids, `greedy ids, cache ${useCache}`).toEqual(expectedIds);
          const genRef = (await ref.gen_logits!.data()) as Float32Array;
          const L = genRef.length / g.logits.length;
          let worst = 0;
          g.logits.forEach((l, i) => l.forEach((v, j) => (worst = Math.max(worst, Math.abs(v - genRef[i * L + j]!)))));
          expect(worst, `gen_logits, cache ${useCache}`).toBeLessThanOrEqual(1e-3);
          // Once the cache has grown, every step ends with the same number of live buffers
          // except the cache's own growth (a fixed number of new buffers per step or none).
          console.log(name, useCache, g.live.join(","), JSON.stringify(backend!.stats()));
          const deltas = g.live.slice(2).map((v, i) => v - g.live[i + 1]!);
          expect(new Set(deltas).size, `live buffers per step ${g.live.join(",")}`).toBeLessThanOrEqual(1);
        }
        console.log(`${name} on webgpu: logits max |diff| ${logitsError.toExponential(2)}`);
      } finally {
        setBackend(cpuBackend);
      }
    });
  });
});
