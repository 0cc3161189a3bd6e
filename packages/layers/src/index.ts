export type {
  CreateCacheOptions,
  ForwardOptions,
  KVCache,
  LanguageModel,
  LanguageModelConfig,
  CheckpointContents,
  SavableModel,
} from "./language_model.js";
export { LayerError, LayerArgumentError, StateDictError, type ShapeMismatch } from "./errors.js";
export {
  Module,
  ModuleList,
  ModuleDict,
  moduleFromTree,
  type ModuleTree,
  type LoadStateDictOptions,
  type LoadStateDictResult,
} from "./module.js";
export { fillNormal, fillConstant } from "./init.js";
export { Linear, linearForward, type LinearOptions } from "./linear.js";
export { Embedding } from "./embedding.js";
export { LayerNorm, RMSNorm, type LayerNormOptions, type RMSNormOptions, type Norm } from "./norms.js";
export { activationByName, applyActivation, type ActivationName } from "./activations.js";
export { MLP, GatedMLP, FusedGatedMLP, type FeedForward } from "./mlp.js";
export type { PositionEncoding } from "./positions/position_encoding.js";
export { LearnedPositions } from "./positions/learned.js";
export { RotaryEmbedding, positionRange, type RotaryOptions, type RotaryTables } from "./positions/rotary.js";
export { rotaryFrequencies, checkRopeScaling, type RopeScaling, type RopeType, type RotaryFrequencies } from "./positions/rope_scaling.js";
export { AlibiBias, alibiSlopes } from "./positions/alibi.js";
export { Glm2DPositions } from "./positions/glm.js";
export { Attention, type AttentionContext, type AttentionOptions } from "./attention/attention.js";
export { type QKVProjection, type FusedLayout, type ProjectedHeads, type HeadCounts, projectHeads } from "./attention/projections.js";
export { buildAttentionMask, defaultPositionIds, slidingWindowMask } from "./attention/mask.js";
export { TransformerBlock, type BlockParts, type ResidualLayout } from "./block.js";
export {
  KVBufferSpares,
  LayerKVCache,
  TransformerKVCache,
  type KVCacheDType,
  type KVShape,
  type LayerKVCacheOptions,
} from "./cache.js";
export { TransformerLanguageModel, type DecoderParts } from "./transformer.js";
export { TokenEmbedder, type TokenEmbedderParts } from "./embedder.js";
export { crossEntropy, type CrossEntropyOptions } from "./loss.js";
export { OutputHead, type OutputHeadOptions } from "./output_head.js";
export type { LinearAdapter } from "./linear.js";
export { type LoraConfig, type LoraLayerSettings, type ResolvedLoraConfig, resolveLoraConfig } from "./lora/config.js";
export { LoraLayer, type LoraWeights, type AdaptableLayer } from "./lora/lora_layer.js";
export { LoraAdapters, type AddLoraOptions, type LoraLayerWeights } from "./lora/adapters.js";
export { namedModules, findLoraTargets } from "./lora/targets.js";
export {
  ADAPTER_CONFIG_FILE,
  ADAPTER_WEIGHTS_FILE,
  PEFT_FORMAT_VERSION,
  peftKey,
  toPeftAdapter,
  peftAdapterFiles,
  loraConfigFromPeft,
  addPeftAdapter,
  readPeftAdapter,
  type PeftAdapter,
  type ToPeftOptions,
  type LoadPeftOptions,
} from "./lora/peft_format.js";
