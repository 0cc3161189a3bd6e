import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gguf as parseWithHuggingFace } from "@huggingface/gguf";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad } from "@llm/tensor";
import { createModel, GGUF_ARCHITECTURES, quantize, type Model } from "@llm/models";
import { loadGGUF, loadModel, saveGGUF } from "@llm/models/node";
import { batchOptions, maxAbsDiff, readFixture, FIXTURES } from "./fixture_files.js";

/**
 * GGUF out and back in: each fixture architecture llama.cpp runs, written in float32, float16,
 * Q8_0 and Q4_0, read by @huggingface/gguf (an independent parser) and by us; the model read back
 * holds the same dtypes and computes exactly what the model written did.
 */
const scratch = mkdtempSync(join(tmpdir(), "llm-gguf-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const FIXTURE_OF: Record<string, string> = {
  llama: "llama",
  qwen2: "qwen2",
  qwen3: "qwen3",
  phi3: "phi3",
  gpt2: "gpt2",
  gptneox: "gpt_neox",
  falcon: "falcon",
  bloom: "bloom",
  mpt: "mpt",
};

describe.each(GGUF_ARCHITECTURES.map((a) => a.ggufArch))("%s", (arch) => {
  const name = FIXTURE_OF[arch]!;
  for (const dtype of ["float32", "float16", "q8_0", "q4_0"] as const) {
    it(`${dtype}: written, parsed by @huggingface/gguf, read back computing the same logits`, async () => {
      const f = await readFixture(name);
      let model: Model = await loadModel(`${FIXTURES}${name}`);
      if (dtype !== "float32") model = await quantize(model, dtype);
      const path = join(scratch, `${name}-${dtype}.gguf`);
      await saveGGUF(model, path);

      const parsed = await parseWithHuggingFace(path, { allowLocalFile: true });
      expect(parsed.metadata["general.architecture"]).toBe(arch);
      const ours = Object.keys(model.stateDict()).length;
      expect(parsed.tensorInfos.length).toBe(ours);

      const { model: back, metadata } = await loadGGUF(path);
      expect(metadata.get("general.architecture")).toBe(arch);
      const before = model.stateDict();
      for (const [key, p] of Object.entries(back.stateDict())) {
        expect(p.dtype, key).toBe(before[key]!.dtype);
        expect(p.shape, key).toEqual(before[key]!.shape);
      }
      const [a, b] = noGrad(() => [model, back].map((m) => m.forward(f.reference.input_ids!, batchOptions(f))));
      expect(maxAbsDiff(a!, b!)).toBe(0);
      model.dispose();
      back.dispose();
    });
  }
});

it("refuses architectures llama.cpp does not run, naming them", async () => {
  const model = await loadModel(`${FIXTURES}opt`);
  await expect(saveGGUF(model, join(scratch, "opt.gguf"))).rejects.toThrow(/model_type "opt" has no GGUF form/);
});

it("refuses what llama.cpp's graph would not compute: Qwen's sliding window, a scaled rotary", async () => {
  const qwen = JSON.parse(readFileSync(`${FIXTURES}qwen2/config.json`, "utf8")) as Record<string, unknown>;
  const windowed = createModel({ ...qwen, use_sliding_window: true, sliding_window: 4, max_window_layers: 0 });
  await expect(saveGGUF(windowed, join(scratch, "qwen2-window.gguf"))).rejects.toThrow(
    "GGUF: qwen2 with use_sliding_window has no GGUF form here: llama.cpp's qwen2 attends to every position, and would compute other logits past the window",
  );
  const llama3 = JSON.parse(readFileSync(`${FIXTURES}llama3/config.json`, "utf8")) as Record<string, unknown>;
  await expect(saveGGUF(createModel(llama3), join(scratch, "llama3.gguf"))).rejects.toThrow(
    /llama's rope scaling "llama3" is not written to GGUF here/,
  );
});
