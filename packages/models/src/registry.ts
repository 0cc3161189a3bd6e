import { previewJson } from "@llm/tensor";
import type { Architecture } from "./architecture.js";
import type { RawConfig } from "./config.js";
import { ModelConfigError } from "./errors.js";
import { bloom } from "./architectures/bloom.js";
import { falcon } from "./architectures/falcon.js";
import { gemma2 } from "./architectures/gemma2.js";
import { glm } from "./architectures/glm.js";
import { gpt2 } from "./architectures/gpt2.js";
import { gptNeox } from "./architectures/gpt_neox.js";
import { gptj } from "./architectures/gptj.js";
import { llama } from "./architectures/llama.js";
import { mpt } from "./architectures/mpt.js";
import { mistral } from "./architectures/mistral.js";
import { opt } from "./architectures/opt.js";
import { phi3 } from "./architectures/phi3.js";
import { qwen2 } from "./architectures/qwen2.js";
import { qwen3 } from "./architectures/qwen3.js";

const ALL = [gpt2, gptj, gptNeox, opt, bloom, llama, falcon, mpt, glm, mistral, qwen2, qwen3, gemma2, phi3];

/** Every architecture by its config.json model_type. */
export const ARCHITECTURES: ReadonlyMap<string, Architecture> = new Map(ALL.map((a) => [a.modelType, a]));

/** model_type spellings older checkpoints use. */
const ALIASES: ReadonlyMap<string, Architecture> = new Map(ALL.flatMap((a) => a.aliases.map((name) => [name, a] as const)));

export function architectureFor(config: RawConfig): Architecture {
  const type = config.model_type;
  const architecture = typeof type === "string" ? (ARCHITECTURES.get(type) ?? ALIASES.get(type)) : undefined;
  if (!architecture) {
    throw new ModelConfigError(
      `config.json: "model_type" must be one of ${[...ARCHITECTURES.keys()].join(", ")}, found ${previewJson(type)}`,
    );
  }
  return architecture;
}
