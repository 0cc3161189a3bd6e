import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad, tensor, type Tensor } from "@llm/tensor";
import { createModel, quantize, weightDType, type Model } from "@llm/models";
import { loadGGUF, loadModel, saveGGUF, saveModel } from "@llm/models/node";

/**
 * dtype "q6_k" (llama.cpp's Q6_K): matrices whose rows are whole 256-value super-blocks become
 * Q6_K, others Q8_0 (llama-quantize's k-quant fallback); the head Q6_K (Q8_0 for Falcon). Checked
 * on a llama whose widths are multiples of 256: loading as q6_k equals quantizing after loading,
 * the kernels equal float32 on the dequantized weights, and the error against float32 sits between
 * Q8_0's and Q4_0's (6.56 bits per value between 8.5 and 4.5). A GGUF file of it reads back as
 * stored, and a float GGUF file converts to it as it loads.
 */
const scratch = mkdtempSync(join(tmpdir(), "llm-q6k-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const CONFIG = {
  model_type: "llama",
  hidden_size: 256,
  intermediate_size: 512,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  num_hidden_layers: 2,
  vocab_size: 300,
  max_position_embeddings: 64,
  rms_norm_eps: 1e-6,
  tie_word_embeddings: false,
};

function maxAbsDiff(a: Tensor, b: Tensor): number {
  const [x, y] = [a.dataSync(), b.dataSync()];
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return max;
}

describe("q6_k weights", () => {
  it("llama.cpp's choice per weight", () => {
    const matrix = { kind: "matrix", axis: 1 } as const;
    expect(weightDType(matrix, "q6_k", "float32", 512)).toBe("q6_k");
    expect(weightDType(matrix, "q6_k", "float32", 160)).toBe("q8_0");
    expect(weightDType(matrix, "q6_k", "float16", 100)).toBe("float16");
    expect(weightDType({ kind: "head", axis: 1 }, "q6_k", "float32", 256)).toBe("q6_k");
    expect(weightDType({ kind: "head", axis: 1 }, "q6_k", "float32", 256, "falcon")).toBe("q8_0");
    expect(weightDType({ kind: "other", axis: -1 }, "q6_k", "float32", 256)).toBe("float32");
  });

  it("load as q6_k = quantize after loading; kernels = float32 on the same values; error between Q8_0's and Q4_0's", async () => {
    const dir = join(scratch, "llama");
    const original = createModel(CONFIG, { seed: 7, std: 0.1 });
    await saveModel(original, dir);
    const ids = tensor([[1, 5, 9, 200, 33, 7, 64, 128, 3, 250]], { dtype: "int32" });
    const run = (m: Model) => noGrad(() => m.forward(ids));
    const reference = run(original);
    const loaded = await loadModel(dir, { dtype: "q6_k" });
    const converted = await quantize(await loadModel(dir), "q6_k");
    for (const [key, p] of Object.entries(loaded.stateDict())) {
      expect(p.dtype, key).toBe(converted.stateDict()[key]!.dtype);
      expect(p.dtype, key).toBe(p.rank === 1 ? "float32" : "q6_k");
    }
    const logits = run(loaded);
    expect(maxAbsDiff(logits, run(converted))).toBe(0);
    const widened = await quantize(await loadModel(dir, { dtype: "q6_k" }), "float32");
    expect(maxAbsDiff(logits, run(widened))).toBeLessThanOrEqual(1e-4);
    const errors: Record<string, number> = {};
    for (const type of ["q8_0", "q6_k", "q4_0"] as const) errors[type] = maxAbsDiff(run(await loadModel(dir, { dtype: type })), reference);
    console.log(`llama 256-wide, logits vs float32: ${JSON.stringify(errors)}`);
    expect(errors.q8_0!).toBeLessThan(errors.q6_k!);
    expect(errors.q6_k!).toBeLessThan(errors.q4_0!);
    // GGUF: written as Q6_K and read back as stored; a float file converted while loading
    await saveGGUF(loaded, join(scratch, "q6k.gguf"));
    const back = (await loadGGUF(join(scratch, "q6k.gguf"))).model;
    expect(back.head.weight.dtype).toBe("q6_k");
    expect(maxAbsDiff(run(back), logits)).toBe(0);
    await saveGGUF(original, join(scratch, "f32.gguf"));
    const asQ6 = (await loadGGUF(join(scratch, "f32.gguf"), { dtype: "q6_k" })).model;
    expect(maxAbsDiff(run(asQ6), logits)).toBe(0);
    await expect(loadGGUF(join(scratch, "q6k.gguf"), { dtype: "q8_0" })).rejects.toThrow(
      /is stored q6_k; dtype "q8_0" would quantize it again as q8_0/,
    );
    for (const m of [original, loaded, converted, widened, back, asQ6]) m.dispose();
  });
});
