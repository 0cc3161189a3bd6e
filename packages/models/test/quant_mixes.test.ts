import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { createModel, weightDType, weightRoles, type RawConfig } from "@llm/models";

/**
 * llama-quantize's K-quant mixes (dtype "q3_k_s" .. "q5_k_m"): the type we give
 * each weight against the type llama.cpp's own llama_model_quantize gave it
 * (golden/llama_quantize/type_maps.json, make_type_maps.mjs): every architecture we write to GGUF,
 * 256 wide with 8 layers (every layer rule shows), a llama 384 wide (the fallbacks for rows that are
 * not whole super-blocks) and one of 80 layers (what llama.cpp takes for a 70B).
 */
const MAPS = JSON.parse(readFileSync(new URL("./golden/llama_quantize/type_maps.json", import.meta.url), "utf8")) as Record<
  string,
  { config: RawConfig; types: Record<string, Record<string, string>> }
>;

describe.each(Object.keys(MAPS))("%s", (label) => {
  const { config, types } = MAPS[label]!;
  it.each(Object.keys(types))("%s: every weight's type is llama-quantize's", (mix) => {
    const model = createModel(config);
    try {
      const roles = weightRoles(model);
      const modelType = String(config.model_type);
      let quantized = 0;
      for (const [name, p] of model.namedParameters()) {
        const role = roles.get(p)!;
        const gguf = role.place?.ggufName;
        expect(gguf, name).toBeDefined();
        const expected = types[mix]![gguf!] ?? "F32";
        const ours = weightDType(role, mix as never, "float32", role.axis < 0 ? 0 : p.shape[role.axis]!, modelType);
        const ggmlName = ours === "float32" ? "F32" : ours.toUpperCase();
        expect(ggmlName, `${gguf} (${name})`).toBe(expected);
        if (expected !== "F32") quantized++;
      }
      expect(quantized).toBe(Object.keys(types[mix]!).length);
    } finally {
      model.dispose();
    }
  });
});
