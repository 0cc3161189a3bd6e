export type {
  ForwardOptions,
  KVCache,
  LanguageModel,
  LanguageModelConfig,
  CheckpointContents,
  SavableModel,
} from "./language_model.js";
