import { Rng } from "@llm/tensor";
import { SamplingError } from "./errors.js";
import { checkSamplingOptions, describeValue, firstNonFinite, OptionChecker } from "./options.js";
import { chain, softmaxRow, temperature, topK, topP, minP, repetitionPenalty, type LogitsProcessor } from "./processors.js";

/** How to pick the next token. Without temperature/topK/topP/minP (or with temperature 0) decoding is greedy. */
export interface SamplingOptions {
  /** 0 or undefined with no other sampling option: greedy. */
  temperature?: number;
  topK?: number;
  topP?: number;
  minP?: number;
  /** > 1 discourages tokens already present (prompt included). */
  repetitionPenalty?: number;
  /** Extra processors, run after the built-in ones. */
  processors?: readonly LogitsProcessor[];
  /** Makes sampling repeatable; a fresh Rng(seed) per generate call. */
  seed?: number;
  /** Or share one generator across calls. */
  rng?: Rng;
}

/** Picks a token id from one row of logits: argmax for greedy, otherwise a draw from softmax. */
export interface TokenSampler {
  readonly greedy: boolean;
  next(logits: Float32Array, ids: readonly number[]): number;
}

export function createSampler(options: SamplingOptions = {}): TokenSampler {
  checkSamplingOptions(new OptionChecker("createSampler", options));
  const t = options.temperature;
  const sampling = (t !== undefined && t > 0) || options.topK !== undefined || options.topP !== undefined || options.minP !== undefined;
  const greedy = !sampling || t === 0;
  const processors: LogitsProcessor[] = [];
  if (options.repetitionPenalty !== undefined) processors.push(repetitionPenalty(options.repetitionPenalty));
  if (!greedy) {
    if (t !== undefined) processors.push(temperature(t));
    if (options.topK !== undefined) processors.push(topK(options.topK));
    if (options.topP !== undefined) processors.push(topP(options.topP));
    if (options.minP !== undefined) processors.push(minP(options.minP));
  }
  processors.push(...(options.processors ?? []));
  const process = chain(...processors);
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  return {
    greedy,
    next(logits, ids) {
      const row = process(logits, ids);
      // NaN, or +Infinity (softmax makes that NaN), would pick a token no probability chose
      const bad = row instanceof Float32Array ? firstNonFinite(row, true) : 0;
      if (bad >= 0) {
        const found = row instanceof Float32Array ? `${row[bad]} at token id ${bad}` : describeValue(row);
        throw new SamplingError(`sample: the logits processors returned ${found}; expected a Float32Array of finite values or -Infinity`);
      }
      return greedy ? argmaxOfAllowed(row) : sampleFrom(row, rng);
    },
  };
}

/** Index of the largest value (the first on ties, as torch.argmax). */
export function argmax(row: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

/** argmax, refusing a row whose every token was removed (argmax would answer 0). */
function argmaxOfAllowed(row: Float32Array): number {
  const best = argmax(row);
  if (row[best] === -Infinity) throw new SamplingError("sample: every logit is -Infinity; the processors removed all tokens");
  return best;
}

/** Draws an index with probability softmax(row). */
export function sampleFrom(row: Float32Array, rng: Rng): number {
  const probs = softmaxRow(row);
  let u = rng.uniform();
  let last = -1;
  for (let i = 0; i < probs.length; i++) {
    const p = probs[i]!;
    if (p === 0) continue;
    last = i;
    u -= p;
    if (u < 0) return i;
  }
  if (last < 0) throw new SamplingError("sample: every logit is -Infinity; the processors removed all tokens");
  return last; // rounding left a little mass
}
