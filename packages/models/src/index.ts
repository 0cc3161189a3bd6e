export { ModelError, ModelConfigError, CheckpointError } from "./errors.js";
export { ConfigReader, INT_KEY_LIMITS, MAX_CONFIG_INT, NUMBER_KEY_RANGES, type RawConfig } from "./config.js";
export {
  checkParameterBudget,
  defaultParameterBudget,
  estimateParameterBytes,
  holdingFor,
  MAX_TENSOR_ELEMENTS,
  type ParameterHolding,
} from "./limits.js";
export {
  defineArchitecture,
  outputHead,
  type Architecture,
  type ArchitectureParts,
  type ArchitectureSpec,
  type Model,
  type CreateOptions,
  type OutputHeadSpec,
} from "./architecture.js";
export { matchCheckpointKeys, type KeyRules, type KeyMatch } from "./keys.js";
export { ARCHITECTURES, architectureFor } from "./registry.js";
export { createModel } from "./create.js";
export { FINITE_CHECK_DEFAULT_BYTES, loadModelFrom, modelFromCheckpoint, type LoadModelOptions } from "./load.js";
export { quantize } from "./quantize.js";
export { weightDType, weightRoles, WEIGHT_DTYPES, type WeightDType, type WeightRole } from "./weight_dtypes.js";
export { MIX_DTYPES, MIX_BASE, type MixDType, type TensorPlace } from "./quant_mixes.js";
export { gpt2 } from "./architectures/gpt2.js";
export { gptj } from "./architectures/gptj.js";
export { gptNeox } from "./architectures/gpt_neox.js";
export { opt } from "./architectures/opt.js";
export { bloom } from "./architectures/bloom.js";
export { llama } from "./architectures/llama.js";
export { falcon } from "./architectures/falcon.js";
export { mpt } from "./architectures/mpt.js";
export { glm, glmBlockMask } from "./architectures/glm.js";
export { mistral } from "./architectures/mistral.js";
export { qwen2 } from "./architectures/qwen2.js";
export { qwen3 } from "./architectures/qwen3.js";
export { gemma2 } from "./architectures/gemma2.js";
export { phi3 } from "./architectures/phi3.js";
export {
  modelToGGUF,
  loadGGUFFrom,
  GGUF_ARCHITECTURES,
  type GGUFExportOptions,
  type LoadGGUFOptions,
  type LoadedGGUF,
} from "./gguf/index.js";
