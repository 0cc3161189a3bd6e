export { SamplingError } from "./errors.js";
export {
  chain,
  temperature,
  topK,
  topP,
  minP,
  repetitionPenalty,
  suppressTokens,
  softmaxRow,
  type LogitsProcessor,
} from "./processors.js";
export { createSampler, argmax, sampleFrom, type SamplingOptions, type TokenSampler } from "./sampler.js";
export { generate, generateBatch, type GenerateOptions } from "./generate.js";
export type { SampleOn } from "./device_sampling.js";
export { generateText, collect, type TextCodec, type StreamingDecoder, type GenerateTextOptions } from "./text.js";
export {
  fillBlanks,
  fillBlanksText,
  streamBlanks,
  glmTokensFromConfig,
  type GlmTokens,
  type BlankInfillingOptions,
  type FilledBlanks,
} from "./glm.js";
