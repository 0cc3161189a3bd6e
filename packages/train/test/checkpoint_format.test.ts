import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { saveCheckpoint } from "../src/node.js";
import { ARCHITECTURES, FIXTURES, fixture } from "./fixtures.js";

/** The JSON header of a safetensors file: name -> { dtype, shape }, plus __metadata__. */
function header(path: string): Record<string, { dtype: string; shape: number[] }> & { __metadata__?: Record<string, string> } {
  const bytes = readFileSync(path);
  const length = Number(bytes.readBigUInt64LE(0));
  return JSON.parse(bytes.subarray(8, 8 + length).toString("utf8"));
}

const dir = mkdtempSync(join(tmpdir(), "llm-ckpt-format-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("checkpoints keep the architecture's own file layout (what transformers wrote for the fixtures)", () => {
  for (const name of ARCHITECTURES) {
    it(name, async () => {
      const { model } = await fixture(name);
      const out = join(dir, name);
      await saveCheckpoint(out, { model });
      const ours = header(join(out, "model.safetensors"));
      const reference = header(`${FIXTURES}${name}/model.safetensors`);
      const layout = (h: typeof ours) =>
        Object.fromEntries(
          Object.entries(h)
            .filter(([k]) => k !== "__metadata__")
            .map(([k, v]) => [k, [v.dtype, v.shape]])
            .sort(),
        );
      expect(layout(ours)).toEqual(layout(reference));
      expect(ours.__metadata__).toEqual({ format: "pt" });
      const config = JSON.parse(readFileSync(join(out, "config.json"), "utf8"));
      const referenceConfig = JSON.parse(readFileSync(`${FIXTURES}${name}/config.json`, "utf8"));
      expect(config.model_type).toBe(referenceConfig.model_type);
      expect(config.vocab_size).toBe(referenceConfig.vocab_size);
      // whole numbers transformers wrote as floats, in the keys the model reads as floats, stay floats
      // (its typed configs refuse 3 where the float 3.0 belongs: Gemma 2's soft-caps)
      const ourText = readFileSync(join(out, "config.json"), "utf8");
      const referenceText = readFileSync(`${FIXTURES}${name}/config.json`, "utf8");
      const floatKeys = new Set((model.toCheckpoint().floatKeys ?? []).map((k) => k.split(".").at(-1)!));
      const checked: string[] = [];
      for (const [, key] of referenceText.matchAll(/"(\w+)": -?\d+\.0\b/g)) {
        if (!floatKeys.has(key!)) continue;
        expect(new RegExp(`"${key}": (-?[\\d.e+-]+)`).exec(ourText)?.[1], key).toMatch(/^-?\d+\.0$/);
        checked.push(key!);
      }
      if (name === "gemma2")
        expect(checked).toEqual(expect.arrayContaining(["attn_logit_softcapping", "final_logit_softcapping", "rope_theta"]));
    });
  }
});
