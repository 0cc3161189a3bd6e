export { TrainError } from "./errors.js";
export { maskedCrossEntropy, type MaskedCrossEntropyOptions } from "./loss.js";
export { Optimizer, type OptimizerState } from "./optim/optimizer.js";
export { AdamW, type AdamWOptions, type AdamHyper } from "./optim/adamw.js";
export { SGD, type SgdOptions, type SgdHyper } from "./optim/sgd.js";
export { decayGroups, type NamedParameters, type ParameterList, type ParamGroup, type ParamGroupSpec } from "./optim/params.js";
export { constant, linearWarmup, warmupCosine, type Schedule, type WarmupCosineOptions } from "./schedule.js";
export { clipGradNorm, gradNorm } from "./clip.js";
export { TokenDataLoader, type TokenBatch, type TokenLoaderOptions, type LoaderState } from "./data.js";
export {
  glmExample,
  glmBlankInfilling,
  sampleSpans,
  poisson,
  glmAttentionMask,
  collateGlm,
  type GlmSpecialTokens,
  type GlmExample,
  type GlmBatch,
  type Span,
  type SpanOptions,
} from "./glm.js";
export { languageModelLoss, glmLoss, evaluateLoss, type LossFn, type LossSum } from "./lm_loss.js";
export { MetricsLog, parseMetrics, type MetricsRecord } from "./metrics.js";
export { ProgressBar, formatProgress, formatDuration, type ProgressStream, type ProgressUpdate } from "./progress.js";
export { Trainer, type TrainerOptions, type TrainerState, type StepResult, type BatchSource } from "./trainer.js";
export { sftExample, parseSftJsonl, type ChatMessage, type SftExample } from "./sft/dataset.js";
export {
  plainFormatter,
  conversationSegments,
  type ConversationFormatter,
  type PlainFormatterOptions,
  type TextSegment,
} from "./sft/format.js";
export { tokenizeSft, type SftTokenizer, type TokenizedExample, type TokenizeSftOptions } from "./sft/tokenize.js";
export { packExamples, IGNORE_INDEX, type PackedRow, type PackOptions, type PackResult } from "./sft/pack.js";
export {
  collateSft,
  sftTensors,
  sftLoss,
  packedAttentionMask,
  SftBatches,
  type SftBatch,
  type SftTensors,
  type SftBatchesOptions,
} from "./sft/batch.js";
export { preferencePair, tokenizePair, type PreferencePair, type TokenizedPair, type TokenizePairOptions } from "./sft/preference.js";
export {
  collateDpo,
  sequenceLogProbs,
  dpoLoss,
  dpoObjective,
  evaluateDpo,
  precomputeReferenceLogProbs,
  DpoBatches,
  type DpoBatch,
  type DpoOptions,
  type DpoMetrics,
} from "./sft/dpo.js";
export { slidingWindowPerplexity, type PerplexityOptions, type PerplexityResult } from "./eval/perplexity.js";
export { encodePair, loglikelihoods, type EvalTokenizer, type Loglikelihood, type LoglikelihoodOptions } from "./eval/loglikelihood.js";
export {
  multipleChoiceDoc,
  parseMultipleChoiceJsonl,
  scoreMultipleChoice,
  FewShotPrompter,
  type MultipleChoiceDoc,
  type MultipleChoiceOptions,
  type MultipleChoiceResult,
  type MultipleChoiceScore,
  type FewShotOptions,
} from "./eval/multiple_choice.js";
