import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { LoraAdapters, type LanguageModel } from "@llm/layers";
import type { Model } from "@llm/models";
import { loadLoraAdapter, loadModel, saveLoraAdapter } from "@llm/models/node";
import { noGrad, tidy, type Tensor } from "@llm/tensor";
import { readSafetensorsFile, readSafetensorsFileRaw } from "@llm/tensor/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AdamW, maskedCrossEntropy } from "../src/index.js";

// fixtures/lora/llama_lora: peft 0.21's LoRA (r 4, alpha 8, q_proj, v_proj, down_proj) on
// fixtures/models/llama, with what peft computed (see fixtures/README.md, "lora/").
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

/** Elements outside "1e-4 absolute or 1e-3 relative", the fixtures' gradient tolerance. */
function gradientViolations(actual: Tensor, expected: Tensor): number {
  const x = actual.dataSync();
  const y = expected.dataSync();
  let bad = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (!(d <= 1e-4 || d <= 1e-3 * Math.abs(y[i]!))) bad++;
  }
  return bad;
}

/** peft's file key of an in-memory adapter parameter name ("<layer>.lora_A.default.weight"). */
const fileKey = (name: string) => `base_model.model.${name.replace(".default.", ".")}`;

let reference: Record<string, Tensor>;
let grads: Record<string, Tensor>;
let adapterFile: Record<string, Tensor>;
const out = mkdtempSync(join(tmpdir(), "lora-fixture-"));

beforeAll(async () => {
  reference = await readSafetensorsFile(`${LORA}reference.safetensors`);
  grads = await readSafetensorsFile(`${LORA}grads.safetensors`);
  adapterFile = await readSafetensorsFile(`${LORA}adapter_model.safetensors`);
});
afterAll(() => rmSync(out, { recursive: true, force: true }));

async function llamaWithAdapter(trainable: boolean): Promise<{ model: Model; lora: LoraAdapters }> {
  const model = await loadModel(LLAMA);
  const lora = await loadLoraAdapter(model, LORA, { trainable });
  return { model, lora };
}

describe("fixtures/lora/llama_lora: peft's own LoRA on the llama fixture", () => {
  it("adapts exactly the layers peft adapted, under the adapter file's keys", async () => {
    const { lora } = await llamaWithAdapter(false);
    const keys = lora.namedParameters().map(([n]) => fileKey(n));
    expect(keys.sort()).toEqual(Object.keys(adapterFile).sort());
    expect(lora.parameterCount()).toBe(Object.values(adapterFile).reduce((n, t) => n + t.size, 0));
    const settings = lora.layersOf("default").map(([, l]) => l.adapters.get("default")!);
    expect(new Set(settings.map((s) => s.scaling))).toEqual(new Set([2])); // alpha 8 / r 4
  });

  it("logits of base + adapter within 1e-4 and the loss within 1e-5", async () => {
    const { model } = await llamaWithAdapter(false);
    model.eval();
    const base = await loadModel(LLAMA);
    noGrad(() => {
      const logits = model.forward(reference.input_ids!);
      expect(maxAbsDiff(logits, reference.logits!)).toBeLessThan(1e-4);
      // The adapter matters: the base alone is far from these logits.
      expect(maxAbsDiff(base.forward(reference.input_ids!), reference.logits!)).toBeGreaterThan(1);
      const loss = nextTokenLoss(model, reference.input_ids!).dataSync()[0]!;
      expect(Math.abs(loss - reference.loss!.dataSync()[0]!)).toBeLessThan(1e-5);
    });
  });

  it("merged logits (adapter merged into the weights) within 1e-4, and unmerge restores the base", async () => {
    const { model, lora } = await llamaWithAdapter(false);
    const base = await loadModel(LLAMA);
    model.eval();
    noGrad(() => {
      lora.merge();
      expect(lora.mergedNames()).toEqual(["default"]);
      expect(maxAbsDiff(model.forward(reference.input_ids!), reference.merged_logits!)).toBeLessThan(1e-4);
      lora.unmerge();
      expect(maxAbsDiff(model.forward(reference.input_ids!), reference.logits!)).toBeLessThan(1e-4);
      // The weights come back up to float rounding, as in peft (subtracting what was added).
      for (const [name, p] of model.namedParameters()) expect(maxAbsDiff(p, base.stateDict()[name]!)).toBeLessThan(1e-6);
      lora.mergeAndUnload();
      expect(lora.names).toEqual([]);
      expect(maxAbsDiff(model.forward(reference.input_ids!), reference.merged_logits!)).toBeLessThan(1e-4);
    });
  });

  it("every LoRA gradient within 1e-4 absolute or 1e-3 relative; no base parameter gets one", async () => {
    const { model, lora } = await llamaWithAdapter(true);
    model.train();
    const loss = tidy(() => nextTokenLoss(model, reference.input_ids!));
    loss.backward();
    const named = lora.namedParameters();
    expect(named.length).toBe(Object.keys(grads).length);
    for (const [name, p] of named) {
      const expected = grads[fileKey(name)]!;
      expect(p.grad, name).not.toBeNull();
      expect(gradientViolations(p.grad!, expected), name).toBe(0);
    }
    for (const [name, p] of model.namedParameters()) {
      expect(p.requiresGrad, name).toBe(false);
      expect(p.grad, name).toBeNull();
    }
  });

  it("three AdamW steps on the adapter only reproduce adam_losses within 1e-4; the base is unchanged bit for bit", async () => {
    const { model, lora } = await llamaWithAdapter(true);
    model.train();
    const before = Object.fromEntries(model.namedParameters().map(([n, p]) => [n, Float32Array.from(p.dataSync() as Float32Array)]));
    const optimizer = new AdamW(lora.namedParameters(), { lr: 1e-2, betas: [0.9, 0.95], eps: 1e-8, weightDecay: 0.1 });
    const losses: number[] = [];
    for (let step = 0; step < 3; step++) {
      optimizer.zeroGrad();
      const loss = tidy(() => nextTokenLoss(model, reference.input_ids!));
      loss.backward();
      losses.push(await loss.item());
      optimizer.step();
    }
    losses.push(await tidy(() => nextTokenLoss(model, reference.input_ids!)).item());
    const expected = Array.from(reference.adam_losses!.dataSync());
    losses.forEach((l, i) => expect(Math.abs(l - expected[i]!), `loss ${i}`).toBeLessThan(1e-4));
    // Optimizer state exists for the adapter's tensors and nothing else.
    const stateNames = Object.keys(optimizer.state().tensors).map((k) => k.replace(/\.exp_avg(_sq)?$/, ""));
    expect(new Set(stateNames)).toEqual(new Set(lora.namedParameters().map(([n]) => n)));
    for (const [name, p] of model.namedParameters())
      expect(Buffer.from((p.dataSync() as Float32Array).buffer).equals(Buffer.from(before[name]!.buffer)), name).toBe(true);
  });

  it("saves back with peft's keys, the same tensors and both files byte for byte", async () => {
    const { model } = await llamaWithAdapter(false);
    await saveLoraAdapter(model, out);
    expect(readFileSync(join(out, "adapter_config.json"), "utf8")).toBe(readFileSync(`${LORA}adapter_config.json`, "utf8"));
    expect(readFileSync(join(out, "adapter_model.safetensors")).equals(readFileSync(`${LORA}adapter_model.safetensors`))).toBe(true);
    const saved = await readSafetensorsFileRaw(join(out, "adapter_model.safetensors"));
    const original = await readSafetensorsFileRaw(`${LORA}adapter_model.safetensors`);
    expect(saved.metadata).toEqual({ format: "pt" });
    expect([...saved.tensors.keys()].sort()).toEqual([...original.tensors.keys()].sort());
    for (const [key, entry] of original.tensors) {
      const ours = saved.tensors.get(key)!;
      expect(ours.dtype, key).toBe(entry.dtype);
      expect(ours.shape, key).toEqual(entry.shape);
      expect(Buffer.from(ours.bytes).equals(Buffer.from(entry.bytes)), key).toBe(true);
    }
    // And it loads back onto a fresh base with the same logits.
    const again = await loadModel(LLAMA);
    await loadLoraAdapter(again, out);
    again.eval();
    noGrad(() => expect(maxAbsDiff(again.forward(reference.input_ids!), reference.logits!)).toBeLessThan(1e-4));
  });
});

// golden/gpt2_lora (made by golden/peft_gpt2_lora.py with peft 0.21): GPT-2's Conv1D layers
// (fan_in_fan_out), "all-linear", rsLoRA, rank and alpha patterns.
const GPT2_LORA = fileURLToPath(new URL("./golden/gpt2_lora/", import.meta.url));
const GPT2 = fileURLToPath(new URL("../../../fixtures/models/gpt2/", import.meta.url));

describe("peft's adapter on GPT-2 (Conv1D weights, all-linear, rsLoRA, rank/alpha patterns)", () => {
  it("loads with peft's settings per layer and gives peft's logits and merged logits within 1e-4", async () => {
    const golden = await readSafetensorsFile(`${GPT2_LORA}reference.safetensors`);
    const model = await loadModel(GPT2);
    const lora = await loadLoraAdapter(model, GPT2_LORA);
    const settings = Object.fromEntries(lora.layersOf("default").map(([n, l]) => [n, l.adapters.get("default")!]));
    expect(Object.keys(settings).sort()).toEqual(
      ["0.attn.c_attn", "0.attn.c_proj", "0.mlp.c_fc", "0.mlp.c_proj", "1.attn.c_attn", "1.attn.c_proj", "1.mlp.c_fc", "1.mlp.c_proj"].map(
        (n) => `transformer.h.${n}`,
      ),
    );
    expect(settings["transformer.h.0.attn.c_attn"]!.scaling).toBe(6 / 2); // rsLoRA: alpha / sqrt(r)
    expect(settings["transformer.h.1.mlp.c_fc"]!.rank).toBe(2);
    expect(settings["transformer.h.1.mlp.c_fc"]!.scaling).toBeCloseTo(6 / Math.SQRT2, 12);
    expect(settings["transformer.h.0.mlp.c_proj"]!.scaling).toBe(3 / 2);
    model.eval();
    noGrad(() => {
      expect(maxAbsDiff(model.forward(golden.input_ids!), golden.logits!)).toBeLessThan(1e-4);
      lora.merge();
      expect(maxAbsDiff(model.forward(golden.input_ids!), golden.merged_logits!)).toBeLessThan(1e-4);
    });
  });

  it("saves it back as peft wrote it", async () => {
    const model = await loadModel(GPT2);
    await loadLoraAdapter(model, GPT2_LORA);
    const dir = join(out, "gpt2");
    await saveLoraAdapter(model, dir);
    for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
      expect(readFileSync(join(dir, file)).equals(readFileSync(`${GPT2_LORA}${file}`)), file).toBe(true);
    }
  });
});

// golden/llama_head_lora (golden/peft_llama_head_lora.py): peft adapts lm_head (a Linear in
// transformers; our OutputHead) besides q_proj.
const HEAD_LORA = fileURLToPath(new URL("./golden/llama_head_lora/", import.meta.url));

describe("peft's adapter on the output head (lm_head)", () => {
  it("gives peft's logits and merged logits within 1e-4, and saves back byte for byte", async () => {
    const golden = await readSafetensorsFile(`${HEAD_LORA}reference.safetensors`);
    const model = await loadModel(LLAMA);
    const lora = await loadLoraAdapter(model, HEAD_LORA);
    expect(lora.layersOf("default").map(([n]) => n)).toContain("lm_head");
    model.eval();
    noGrad(() => {
      expect(maxAbsDiff(model.forward(golden.input_ids!), golden.logits!)).toBeLessThan(1e-4);
      lora.merge();
      expect(maxAbsDiff(model.forward(golden.input_ids!), golden.merged_logits!)).toBeLessThan(1e-4);
    });
    // Saved from a fresh load (unmerging leaves the head within float rounding of what it was, and
    // peft saves a targeted lm_head's own weight beside the adapter: base_layer.weight).
    const fresh = await loadModel(LLAMA);
    await loadLoraAdapter(fresh, HEAD_LORA);
    const dir = join(out, "head");
    await saveLoraAdapter(fresh, dir);
    for (const file of ["adapter_config.json", "adapter_model.safetensors"]) {
      expect(readFileSync(join(dir, file)).equals(readFileSync(`${HEAD_LORA}${file}`)), file).toBe(true);
    }
  });

  it("a tied head runs an adapter but refuses to merge into the embedding it shares", async () => {
    const model = await loadModel(GPT2); // tie_word_embeddings: the head is wte
    const lora = LoraAdapters.of(model).add("x", { r: 2, targetModules: ["lm_head"], initLoraWeights: false });
    noGrad(() => model.forward(reference.input_ids!));
    expect(() => lora.merge()).toThrow(/cannot merge adapter "x" into lm_head: the head's weight is the token embedding's/);
  });
});
