/**
 * The decode loop on WebGPU: generate() picks each token on the GPU (sampleTokens) and reads back
 * one id per step. A 1,000-token decode must leave the live-buffer count where it started and call
 * mapAsync once per token (counted on the GPUBuffer prototype itself, not by the backend); the
 * device draw must pick what the host sampler picks from the same logits and seed, and greedy
 * decoding must equal the CPU backend's.
 */
import { describe, expect, it } from "vitest";
import { cpuBackend, setBackend } from "@llm/tensor";
import { createModel } from "@llm/models";
import { generate, type GenerateOptions } from "@llm/sampling";
import { BufferUsage } from "../src/gpu-constants.js";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

// GPT-2 shaped, one layer: the fewest kernels per step (SwiftShader runs each in about a millisecond)
const CONFIG = { model_type: "gpt2", n_embd: 32, n_head: 2, n_layer: 1, vocab_size: 96, n_positions: 1100 };
const PROMPT = [1, 5, 9, 17];

/** Counts GPUBuffer.mapAsync calls on this device while `fn` runs. */
async function countingMaps<T>(fn: () => Promise<T>): Promise<{ result: T; maps: number }> {
  const probe = backend!.device.createBuffer({ size: 4, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST });
  const proto = Object.getPrototypeOf(probe) as { mapAsync: (...args: unknown[]) => Promise<void> };
  probe.destroy();
  const original = proto.mapAsync;
  let maps = 0;
  proto.mapAsync = function (this: unknown, ...args: unknown[]) {
    maps++;
    return original.apply(this, args);
  };
  try {
    return { result: await fn(), maps };
  } finally {
    proto.mapAsync = original;
  }
}

async function decode(options: GenerateOptions): Promise<number[]> {
  const ids: number[] = [];
  for await (const id of generate(model!, PROMPT, options)) ids.push(id);
  return ids;
}

const model = backend ? createModel(CONFIG, { backend, seed: 3, std: 0.5 }) : null;

describe.skipIf(!backend)("decoding on WebGPU", () => {
  it("1,000 sampled tokens: one mapAsync per token, live buffers back where they started", { timeout: 300_000 }, async () => {
    // top-k and top-p cost 64 barrier-heavy passes per token on SwiftShader; the test below covers them
    const options: GenerateOptions = { maxNewTokens: 1000, temperature: 0.9, minP: 0.02, repetitionPenalty: 1.1, seed: 7 };
    await decode({ ...options, maxNewTokens: 3 }); // pipelines compiled, pools filled
    const before = backend!.stats().liveBuffers;
    const { result, maps } = await countingMaps(() => decode(options));
    expect(result.length).toBe(1000);
    expect(maps, "mapAsync calls for 1,000 tokens").toBe(1000);
    expect(backend!.stats().liveBuffers).toBe(before);
    expect(new Set(result).size, "a sampled decode uses many ids").toBeGreaterThan(20);
  });

  it("the device draw picks what the host sampler picks from the same logits and seed", async () => {
    const options: GenerateOptions = {
      maxNewTokens: 40,
      temperature: 0.8,
      topK: 30,
      topP: 0.9,
      minP: 0.01,
      repetitionPenalty: 1.2,
      seed: 11,
    };
    const device = await countingMaps(() => decode({ ...options, sampleOn: "device" }));
    const host = await countingMaps(() => decode({ ...options, sampleOn: "host" }));
    expect(device.result).toEqual(host.result);
    expect(device.maps).toBe(40);
  });

  it("greedy ids equal the CPU backend's", async () => {
    const cpuModel = createModel(CONFIG, { backend: cpuBackend, seed: 3, std: 0.5 });
    const options: GenerateOptions = { maxNewTokens: 60, repetitionPenalty: 1.3 };
    const gpu = await decode(options);
    const ids: number[] = [];
    setBackend(cpuBackend);
    for await (const id of generate(cpuModel, PROMPT, options)) ids.push(id);
    expect(gpu).toEqual(ids);
  });
});
