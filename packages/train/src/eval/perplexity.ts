import type { LanguageModel } from "@llm/layers";
import { noGrad, tensor, tidy } from "@llm/tensor";
import { checkNumber, TrainError } from "../errors.js";

export interface PerplexityOptions {
  /** Tokens per window (default: the model's maxPositions, which must then be finite). */
  maxLength?: number;
  /** How far each window starts after the previous one (default maxLength / 2). */
  stride?: number;
}

export interface PerplexityResult {
  /** exp(average NLL) with Hugging Face's guide's weighting (each window's mean loss times its new tokens - 1). */
  perplexity: number;
  /** The guide's average negative log-likelihood (nats per token). */
  meanNll: number;
  /** exp(total NLL / tokens scored): every token after the first scored once, with the context its window gave it. */
  exactPerplexity: number;
  /** Tokens scored: every token but the first when windows overlap (stride < maxLength); else a window's first token has no context and is not. */
  tokens: number;
  windows: number;
}

/**
 * Perplexity of one long token sequence with a sliding window, as Hugging Face's guide
 * ("Perplexity of fixed-length models") computes it: windows of maxLength tokens starting every
 * `stride` tokens; each scores only the tokens the previous window did not reach (the rest are
 * context), and the window's mean loss is weighted by (those tokens - 1), as the guide does
 * because the model shifts labels internally. `exactPerplexity` weights every scored token once.
 */
export async function slidingWindowPerplexity(
  model: LanguageModel,
  ids: ArrayLike<number>,
  options: PerplexityOptions = {},
): Promise<PerplexityResult> {
  const maxLength = options.maxLength ?? model.config.maxPositions;
  checkNumber(
    "slidingWindowPerplexity",
    "maxLength",
    maxLength,
    (v) => Number.isInteger(v) && v >= 2,
    "an integer >= 2 (give it when the model's maxPositions is unbounded)",
  );
  const stride = options.stride ?? Math.max(1, Math.floor(maxLength / 2));
  checkNumber(
    "slidingWindowPerplexity",
    "stride",
    stride,
    (v) => Number.isInteger(v) && v >= 1 && v <= maxLength,
    `an integer in [1, ${maxLength}]`,
  );
  const n = ids.length;
  if (n < 2) throw new TrainError(`slidingWindowPerplexity: expected at least 2 tokens, got ${n}`);
  let guideNll = 0;
  let guideTokens = 0;
  let exactNll = 0;
  let exactTokens = 0;
  let windows = 0;
  let previousEnd = 0;
  for (let begin = 0; begin < n; begin += stride) {
    const end = Math.min(begin + maxLength, n);
    const newTokens = end - previousEnd;
    const window = Int32Array.from(Array.prototype.slice.call(ids, begin, end) as number[]);
    const length = end - begin;
    // Labels are the window's last newTokens tokens; the first token of a window has no prediction.
    const firstScored = Math.max(1, length - newTokens);
    const nll = await windowNll(model, window, firstScored);
    const scored = length - firstScored;
    if (scored > 0) {
      guideNll += (nll / scored) * (newTokens - 1);
      guideTokens += newTokens - 1;
      exactNll += nll;
      exactTokens += scored;
    }
    windows++;
    previousEnd = end;
    if (end === n) break;
  }
  const meanNll = guideTokens > 0 ? guideNll / guideTokens : exactNll / exactTokens;
  return { perplexity: Math.exp(meanNll), meanNll, exactPerplexity: Math.exp(exactNll / exactTokens), tokens: exactTokens, windows };
}

/** Sum of -log p(window[t] | window[< t]) for t >= firstScored. */
async function windowNll(model: LanguageModel, window: Int32Array, firstScored: number): Promise<number> {
  const length = window.length;
  const nll = noGrad(() =>
    tidy(() => {
      const logits = model.forward(tensor(window, { shape: [1, length], dtype: "int32" }));
      const predicting = logits.slice(1, firstScored - 1, length - 1).logSoftmax(-1);
      const targets = tensor(window.slice(firstScored), { shape: [1, length - firstScored, 1], dtype: "int32" });
      return predicting.takeAlongAxis(targets, -1).sum().neg();
    }),
  );
  const value = await nll.item();
  nll.dispose();
  return value;
}
