export { PretrainedError, PretrainedArgumentError, DownloadError, NotCachedError, ChatTemplateError } from "./errors.js";
export {
  loadPretrained,
  loadPretrainedFrom,
  readModelFolderText,
  loadTokenizerFrom,
  remoteFiles,
  SUPPORTED_DTYPES,
  type LoadPretrainedOptions,
  type ModelFolderText,
} from "./load.js";
export { Pretrained, type ApplyChatTemplateNamedOptions } from "./pretrained.js";
export { ggufText, ggufTokenizerMetadata, type GGUFText } from "./gguf.js";
export { ChatSession, type ChatOptions } from "./chat/session.js";
export { ChatTemplate, pickTemplate, type ChatMessage, type ApplyChatTemplateOptions } from "./chat/template.js";
export {
  parseGenerationConfig,
  resolveGeneration,
  DEFAULT_MAX_NEW_TOKENS,
  type GenerationConfig,
  type GenerationOptions,
  type ResolvedGeneration,
} from "./generation_config.js";
export {
  parseTokenizerConfig,
  tokenizerFromFiles,
  templateTokens,
  cleanUpTokenization,
  type TokenizerConfig,
  type TokenizerFiles,
  type NamedToken,
} from "./tokenizer_config.js";
export { DEFAULT_HUB_ENDPOINT, hubBaseUrl, isHubId, type HubOptions } from "./files/hub.js";
export { RemoteFiles, type RemoteFilesOptions } from "./files/remote.js";
export type { LoadProgress, ProgressCallback } from "./files/progress.js";
export { nobleHasher, type Hasher, type HasherFactory, type HashAlgorithm } from "./files/digest.js";
export type { HttpOptions } from "./files/http.js";
export type { FileCache, CachedFile, CacheWriter, CacheEntryMeta } from "./cache/cache.js";
export { browserCache, DEFAULT_BROWSER_CACHE } from "./cache/browser_cache.js";
