// QLoRA-style: peft's fixture adapter over a llama base whose Linear weights are kept as Q8_0 / Q4_0
// blocks. The adapter (float32) must train exactly as it does over float32 weights holding the
// same (dequantized) values, the quantized base must stay untouched, and merging into it is refused.
import { fileURLToPath } from "node:url";
import type { LanguageModel } from "@llm/layers";
import type { Model } from "@llm/models";
import { loadLoraAdapter, loadModel } from "@llm/models/node";
import { isQuantized, noGrad, tidy, type Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { describe, expect, it } from "vitest";
import { AdamW, maskedCrossEntropy } from "../src/index.js";

const LORA = fileURLToPath(new URL("../../../fixtures/lora/llama_lora/", import.meta.url));
const LLAMA = fileURLToPath(new URL("../../../fixtures/models/llama/", import.meta.url));

function nextTokenLoss(model: LanguageModel, input: Tensor): Tensor {
  const seq = input.shape[1]!;
  return maskedCrossEntropy(model.forward(input).slice(1, 0, seq - 1), input.slice(1, 1, seq).contiguous());
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const x = a.dataSync();
  const y = b.dataSync();
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** A float32 llama whose every weight is the quantized model's, dequantized. */
async function dequantizedTwin(quantized: Model): Promise<Model> {
  const twin = await loadModel(LLAMA, { dtype: "float32" });
  const weights = quantized.stateDict();
  noGrad(() => {
    for (const [name, p] of twin.namedParameters()) p.assign(weights[name]!.cast("float32"));
  });
  return twin;
}

const input = (await readSafetensorsFile(`${LLAMA}reference.safetensors`)).input_ids!;

describe.each(["q8_0", "q4_0"] as const)("LoRA over a %s base", (dtype) => {
  it("adapted layers keep quantized weights; gradients and three AdamW steps equal those over the dequantized weights", async () => {
    const quantized = await loadModel(LLAMA, { dtype });
    const twin = await dequantizedTwin(quantized);
    const loras = [await loadLoraAdapter(quantized, LORA, { trainable: true }), await loadLoraAdapter(twin, LORA, { trainable: true })];
    // The test means something only if the adapted layers' weights really are blocks.
    const adapted = loras[0]!.layersOf("default");
    expect(adapted.length).toBe(6);
    for (const [name, layer] of adapted) expect(layer.base.weight.dtype, name).toBe(dtype);
    const baseBefore = Object.fromEntries(quantized.namedParameters().map(([n, p]) => [n, new Uint8Array(p.dataSync().buffer.slice(0))]));

    const optimizers = loras.map((l) => new AdamW(l.namedParameters(), { lr: 1e-2, weightDecay: 0.01 }));
    const models = [quantized, twin];
    for (let step = 0; step < 3; step++) {
      const losses = models.map((m, i) => {
        m.train();
        optimizers[i]!.zeroGrad();
        const loss = tidy(() => nextTokenLoss(m, input));
        loss.backward();
        return loss.dataSync()[0]!;
      });
      expect(Math.abs(losses[0]! - losses[1]!), `loss at step ${step}`).toBeLessThan(1e-5);
      const [q, f] = loras.map((l) => l.namedParameters());
      for (let i = 0; i < q!.length; i++) {
        const [name, p] = q![i]!;
        expect(maxAbsDiff(p.grad!, f![i]![1].grad!), `${name} gradient at step ${step}`).toBeLessThan(1e-5);
      }
      for (const o of optimizers) o.step();
    }
    // The frozen quantized base took no gradient and is byte for byte what was loaded.
    for (const [name, p] of quantized.namedParameters()) {
      expect(p.grad, name).toBeNull();
      expect(new Uint8Array(p.dataSync().buffer.slice(0)), name).toEqual(baseBefore[name]);
    }
    // After training, the two models still agree (the adapters moved the same way).
    quantized.eval();
    twin.eval();
    noGrad(() => expect(maxAbsDiff(quantized.forward(input), twin.forward(input))).toBeLessThan(1e-4));
  });

  it("merging into a quantized weight is refused, naming the layer and dtype", async () => {
    const quantized = await loadModel(LLAMA, { dtype });
    const lora = await loadLoraAdapter(quantized, LORA);
    expect(isQuantized(quantized.stateDict()["model.layers.0.self_attn.q_proj.weight"]!.dtype)).toBe(true);
    expect(() => lora.merge()).toThrow(
      new RegExp(`cannot merge adapter "default" into model\\.layers\\.\\d\\.\\S+\\.weight: it is ${dtype}`),
    );
  });
});
