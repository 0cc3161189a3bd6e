import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { noGrad, tensor, type Tensor } from "@llm/tensor";
import type { Model } from "@llm/models";
import { loadGGUF, loadModel, saveGGUF } from "@llm/models/node";

/**
 * Rope scaling in GPT-NeoX (rotary on half of each head here) and Falcon, which used to refuse
 * it: transformers 5.17 takes every rope type for both (linear, dynamic, yarn, llama3, longrope).
 * golden/rope_families.py saved one tiny model per family and, per scaling, the config.json
 * transformers read and the logits it computed on 24 tokens (past max_position_embeddings = 16,
 * so dynamic scaling and longrope's long factors apply); each config is read here as transformers
 * 5 writes it and as 4.x wrote it (rope_scaling with "type", top-level rope_theta / rotary_pct).
 * And by reduction: factor 1 (linear, yarn) is no scaling.
 */
const GOLDEN = new URL("./golden/rope_families/", import.meta.url).pathname;
const golden = JSON.parse(readFileSync(join(GOLDEN, "golden.json"), "utf8")) as {
  input_ids: number[];
  families: Record<string, Record<string, { config: Record<string, unknown>; logits: number[][] }>>;
};
const scratch = mkdtempSync(join(tmpdir(), "llm-rope-families-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

let folders = 0;
async function load(family: string, config: Record<string, unknown>): Promise<Model> {
  const dir = join(scratch, `${family}-${folders++}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir);
  writeFileSync(join(dir, "config.json"), JSON.stringify(config));
  copyFileSync(join(GOLDEN, `${family}.safetensors`), join(dir, "model.safetensors"));
  return loadModel(dir);
}

const ids = tensor([golden.input_ids], { dtype: "int32" });
// 24 tokens go past the declared 16 on purpose: extrapolating is what the scalings are for
const logitsOf = (model: Model): Tensor => noGrad(() => model.forward(ids, { extrapolate: true }));

function maxAbsDiff(a: Tensor, expected: number[][] | Tensor): number {
  const x = a.dataSync();
  const y = Array.isArray(expected) ? expected.flat() : Array.from(expected.dataSync());
  expect(x.length).toBe(y.length);
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** The same config as transformers 4.x wrote it: rope_scaling {type, ...} and top-level theta (GPT-NeoX: rotary_pct). */
function as4x(family: string, config: Record<string, unknown>): Record<string, unknown> {
  const { rope_parameters, ...rest } = config as { rope_parameters: Record<string, unknown> };
  const { rope_type, rope_theta, partial_rotary_factor, ...scaling } = rope_parameters;
  return {
    ...rest,
    rope_theta,
    ...(family === "gpt_neox" ? { rotary_pct: partial_rotary_factor, rotary_emb_base: rope_theta } : {}),
    ...(rope_type === "default" ? {} : { rope_scaling: { type: rope_type, ...scaling } }),
  };
}

describe.each(Object.keys(golden.families))("%s with rope scaling", (family) => {
  const cases = golden.families[family]!;
  for (const [name, c] of Object.entries(cases)) {
    it(`${name}: transformers' logits from its 5.x config and the 4.x form of it`, async () => {
      for (const config of [c.config, as4x(family, c.config)]) {
        const model = await load(family, config);
        const error = maxAbsDiff(logitsOf(model), c.logits);
        console.log(`${family} ${name}: logits vs transformers ${error.toExponential(2)}`);
        // measured at most 5e-7: float32 rounding
        expect(error, JSON.stringify(config.rope_parameters ?? config.rope_scaling)).toBeLessThanOrEqual(1e-5);
        model.dispose();
      }
      // the golden means something: each scaling moves these logits well past the tolerance
      if (name !== "default") {
        const plain = cases.default!.logits.flat();
        const moved = Math.max(...c.logits.flat().map((x, i) => Math.abs(x - plain[i]!)));
        expect(moved).toBeGreaterThan(1e-3);
      }
    });
  }

  it("factor 1 is no scaling (linear, yarn), and dynamic within max_position_embeddings is none", async () => {
    const base = cases.default!.config;
    const params = base.rope_parameters as Record<string, unknown>;
    const none = await load(family, base);
    const expected = logitsOf(none);
    for (const scaling of [
      { rope_type: "linear", factor: 1 },
      { rope_type: "yarn", factor: 1, original_max_position_embeddings: 16 },
    ]) {
      const model = await load(family, { ...base, rope_parameters: { ...params, ...scaling } });
      expect(maxAbsDiff(logitsOf(model), expected), scaling.rope_type).toBe(0);
      model.dispose();
    }
    // dynamic NTK only changes the frequencies past max_position_embeddings
    const dynamic = await load(family, {
      ...base,
      max_position_embeddings: 64,
      rope_parameters: { ...params, rope_type: "dynamic", factor: 4 },
    });
    expect(maxAbsDiff(logitsOf(dynamic), expected)).toBe(0);
    dynamic.dispose();
    none.dispose();
  });

  // the Falcon golden is the new_decoder_architecture layout (ln_attn/ln_mlp), which our GGUF mapping
  // (Falcon-7B's layout) does not write: GPT-NeoX shows the export's rope handling
  it.runIf(family === "gpt_neox")("GGUF export writes the unscaled rotary and refuses a scaled one (the file would drop it)", async () => {
    const plain = await load(family, cases.default!.config);
    const path = join(scratch, `${family}.gguf`);
    await saveGGUF(plain, path);
    const back = (await loadGGUF(path)).model;
    expect(maxAbsDiff(logitsOf(back), cases.default!.logits)).toBeLessThanOrEqual(1e-5);
    const scaled = await load(family, cases.linear!.config);
    await expect(saveGGUF(scaled, join(scratch, "scaled.gguf"))).rejects.toThrow(
      `GGUF: ${family}'s rope scaling "linear" is not written to GGUF here; a file without it would compute other positions`,
    );
    for (const m of [plain, back, scaled]) m.dispose();
  });

  it("a bad scaling is an error naming the key", async () => {
    const base = cases.default!.config;
    const params = base.rope_parameters as Record<string, unknown>;
    await expect(load(family, { ...base, rope_parameters: { ...params, rope_type: "linear", factor: -2 } })).rejects.toThrow(/factor/);
    await expect(load(family, { ...base, rope_parameters: { ...params, rope_type: "ntk-by-parts" } })).rejects.toThrow(
      /rope_type.*one of default, linear, dynamic, llama3, yarn, longrope/,
    );
  });
});
