/**
 * A checkpoint loaded straight onto WebGPU while the default backend stays the CPU: the weights are
 * read onto the GPU (no setBackend), generation from @llm/sampling works with ids it makes on the
 * CPU, and a bad id, which WebGPU cannot check synchronously, fails the next read instead of
 * reading garbage.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { cpuBackend, getBackend, loadSafetensors, tensor } from "@llm/tensor";
import { loadModel } from "@llm/models/node";
import { collect, generate } from "@llm/sampling";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

const GPT2 = fileURLToPath(new URL("../../../fixtures/models/gpt2", import.meta.url));

describe.skipIf(!backend)("loadModel onto WebGPU", () => {
  it("puts every weight on the GPU and generates the reference tokens from CPU-made ids", async () => {
    expect(getBackend()).toBe(cpuBackend);
    const model = await loadModel(GPT2, { backend: backend! });
    expect(model.parameters().every((p) => p.backend === backend)).toBe(true);
    const reference = loadSafetensors(readFileSync(`${GPT2}/reference.safetensors`), { backend: cpuBackend });
    const prompt = Array.from(reference.gen_prompt!.dataSync());
    const ids = await collect(generate(model, prompt, { maxNewTokens: 8 }));
    expect(ids).toEqual(Array.from(reference.gen_ids!.dataSync()));
    model.dispose();
  });

  it("reports an id outside the vocabulary at the next read", async () => {
    const model = await loadModel(GPT2, { backend: backend! });
    const vocab = model.config.vocabSize;
    const logits = model.forward(tensor([[1, vocab + 5]], { dtype: "int32" }));
    await expect(logits.data()).rejects.toThrow(`Embedding: id ${vocab + 5} is outside the table's ${vocab} rows [0, ${vocab})`);
    // the check is settled: the next forward reads normally
    const ok = model.forward(tensor([[1, 2]], { dtype: "int32" }));
    expect((await ok.data()).length).toBe(2 * vocab);
    model.dispose();
  });
});
