/**
 * Every model fixture with its weights kept as stored on WebGPU:
 *  - float16: the logits equal the CPU backend's float16 model (1e-4: the same rounded weights,
 *    float32 accumulation), lie within what rounding the weights costs of the float32 reference
 *    (1e-2, gemma2 2e-2: the bounds packages/models/test/weight_dtypes.test.ts measured; no forward
 *    of float16-rounded weights meets 2e-3 there), and pick the reference's greedy tokens;
 *  - Q8_0 and Q4_0: the logits equal the CPU backend's model of the same dtype within 1e-3.
 */
import { describe, expect, it } from "vitest";
import { readFileSync, readdirSync } from "node:fs";
import { concat, cpuBackend, loadSafetensors, noGrad, randn, setBackend, tensor, toBackend, type Backend, type Tensor } from "@llm/tensor";
import { createModel, glmBlockMask, modelFromCheckpoint, quantize } from "@llm/models";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

const FIXTURES = new URL("../../../fixtures/models/", import.meta.url);
const ROUNDING_BOUND: Record<string, number> = { gemma2: 2e-2 };

function load(name: string, be: Backend) {
  const file = (f: string) => readFileSync(new URL(`${name}/${f}`, FIXTURES));
  const config = JSON.parse(file("config.json").toString("utf8")) as Record<string, unknown>;
  return {
    model: modelFromCheckpoint(config, loadSafetensors(file("model.safetensors"), { backend: be }), name),
    reference: loadSafetensors(file("reference.safetensors"), { backend: be }),
  };
}

async function maxAbsDiff(a: Tensor, b: Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [await a.data(), await b.data()];
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

async function scoredLogits(
  name: string,
  dtype: "float16" | "q8_0" | "q4_0",
  be: Backend,
): Promise<{ logits: Tensor; ref: Record<string, Tensor>; model: ReturnType<typeof load>["model"] }> {
  setBackend(be); // the tensors a model makes as it runs go where its weights are
  const { model, reference: ref } = load(name, be);
  await quantize(model, dtype);
  const ids = ref.input_ids!;
  const options =
    name === "glm"
      ? { positionIds: ref.position_ids!, attentionMask: glmBlockMask(ids.shape[0]!, ids.shape[1]!, (await ref.sep!.data())[0]!) }
      : {};
  return { logits: noGrad(() => model.forward(ids, options)), ref, model };
}

describe.skipIf(!backend).each(readdirSync(FIXTURES).sort())("%s with stored weights on WebGPU", (name) => {
  it("float16: the CPU backend's logits (1e-4), near the reference, the reference's greedy tokens", async () => {
    setBackend(backend!);
    try {
      const gpu = await scoredLogits(name, "float16", backend!);
      const cpu = await scoredLogits(name, "float16", cpuBackend);
      const vsCpu = await maxAbsDiff(gpu.logits, cpu.logits);
      const vsRef = await maxAbsDiff(gpu.logits, gpu.ref.logits!);
      console.log(`${name} float16 on webgpu: vs cpu ${vsCpu.toExponential(2)}, vs reference ${vsRef.toExponential(2)}`);
      expect(vsCpu).toBeLessThanOrEqual(1e-4);
      expect(vsRef).toBeLessThanOrEqual(ROUNDING_BOUND[name] ?? 1e-2);
      if (name !== "glm") {
        // greedy decoding picks, at each step, the argmax after the ids so far: the reference's ids fed at once
        const prompt = gpu.ref.gen_prompt!;
        const expected = Array.from(await gpu.ref.gen_ids!.data());
        setBackend(backend!);
        const fed = concat([prompt, tensor([expected.slice(0, -1)], { dtype: "int32", backend: backend! })], 1);
        const logits = noGrad(() => gpu.model.forward(fed));
        const start = prompt.shape[1]! - 1;
        const picks = Array.from(
          await logits
            .slice(1, start, start + expected.length)
            .argmax(-1)
            .data(),
        );
        expect(picks).toEqual(expected);
      }
    } finally {
      setBackend(cpuBackend);
    }
  });

  it("float16: its half weights take half the GPU bytes of their float32 copies (two to a word)", async () => {
    setBackend(backend!);
    try {
      const { model } = load(name, backend!);
      const before = backend!.stats().allocatedBytes;
      await quantize(model, "float16");
      const allocated = backend!.stats().allocatedBytes - before;
      const halves = model.parameters().filter((p) => p.dtype === "float16");
      const float32Bytes = halves.reduce((sum, p) => sum + 4 * p.size, 0);
      console.log(`${name} float16 on webgpu: ${allocated} bytes allocated for ${float32Bytes} bytes of float32 weights`);
      expect(halves.length).toBeGreaterThan(0);
      // the casts' outputs, 2 bytes a value rounded up to words (no scratch: a cast allocates its output only)
      expect(allocated).toBe(halves.reduce((sum, p) => sum + 4 * Math.ceil(p.size / 2), 0));
    } finally {
      setBackend(cpuBackend);
    }
  });

  it.each(["q8_0", "q4_0"] as const)("%s: the CPU backend's logits within 1e-3", async (dtype) => {
    setBackend(backend!);
    try {
      const gpu = await scoredLogits(name, dtype, backend!);
      const cpu = await scoredLogits(name, dtype, cpuBackend);
      const kinds = new Set(gpu.model.parameters().map((p) => p.dtype));
      expect(kinds.has(dtype), `${name} holds ${dtype} weights`).toBe(true);
      const diff = await maxAbsDiff(gpu.logits, cpu.logits);
      console.log(`${name} ${dtype} on webgpu: vs cpu ${dtype} ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-3);
    } finally {
      setBackend(cpuBackend);
    }
  });
});

describe.skipIf(!backend)("a Q4_0 model with its head in Q6_K on WebGPU", () => {
  it("width 256: quantize() keeps the head in Q6_K (llama.cpp's default); the CPU backend's logits within 1e-3", async () => {
    const config = {
      model_type: "llama",
      vocab_size: 512,
      hidden_size: 256,
      intermediate_size: 512,
      num_hidden_layers: 1,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      tie_word_embeddings: false,
    };
    const ids = tensor([[5, 17, 300, 42, 511, 0, 7]], { dtype: "int32", backend: cpuBackend });
    const run = async (be: Backend) => {
      setBackend(be);
      const model = createModel(config, { backend: be });
      // the same weights on both backends: drawn on the CPU with a seed, then moved
      for (const [i, p] of model.parameters().entries())
        p.adopt(toBackend(randn(p.shape, { backend: cpuBackend, seed: i + 1 }).mul(0.05), be));
      await quantize(model, "q4_0");
      const dtypes = Object.fromEntries(Object.entries(model.stateDict()).map(([k, t]) => [k, t.dtype]));
      return { logits: noGrad(() => model.forward(toBackend(ids, be))), dtypes };
    };
    try {
      const gpu = await run(backend!);
      const cpu = await run(cpuBackend);
      expect(gpu.dtypes["lm_head.weight"]).toBe("q6_k");
      expect(gpu.dtypes["model.layers.0.mlp.up_proj.weight"]).toBe("q4_0");
      const scale = Math.max(...Array.from((await cpu.logits.data()) as Float32Array, Math.abs));
      expect(scale, "logits far from zero, so the bound below means something").toBeGreaterThan(0.05);
      const diff = await maxAbsDiff(gpu.logits, cpu.logits);
      console.log(`llama width 256 q4_0 + q6_k head on webgpu: vs cpu ${diff.toExponential(2)}`);
      expect(diff).toBeLessThanOrEqual(1e-3);
    } finally {
      setBackend(cpuBackend);
    }
  });
});
