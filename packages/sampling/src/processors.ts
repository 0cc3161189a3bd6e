import { checkNumber } from "./errors.js";

/**
 * A logits processor rewrites one row of next-token logits (length vocab) given the ids seen so
 * far (prompt + generated). Processors work on host arrays: a row is small, and the same code
 * then serves every backend. Removing a token means setting its logit to -Infinity.
 */
export type LogitsProcessor = (logits: Float32Array, ids: readonly number[]) => Float32Array;

/** The largest finite float32. */
const FLOAT32_MAX = 3.4028234663852886e38;

/** Runs processors left to right. */
export function chain(...processors: readonly LogitsProcessor[]): LogitsProcessor {
  return (logits, ids) => processors.reduce((row, p) => p(row, ids), logits);
}

/**
 * Divides logits by t (t < 1 sharpens, t > 1 flattens). Greedy decoding is temperature 0, handled
 * by the sampler. When a tiny t would overflow a logit to Infinity, the row is shifted to a
 * maximum of 0 first: the same distribution, and no Infinity.
 */
export function temperature(t: number): LogitsProcessor {
  checkNumber("temperature", "t", t, (v) => v > 0 && Number.isFinite(v), "a finite number > 0 (use greedy for 0)");
  return (logits) => {
    if (t === 1) return logits;
    const out = logits.map((x) => x / t);
    if (!out.includes(Infinity)) return out;
    // A tiny t overflowed the largest logits to +Infinity (NaN in softmax): the row shifted to a
    // maximum of 0 first gives the same distribution, the rest going toward -Infinity instead.
    let max = -Infinity;
    for (const x of logits) if (x > max) max = x;
    return logits.map((x) => (x - max) / t);
  };
}

/** Keeps the k largest logits (ties at the k-th value are kept, as in transformers). */
export function topK(k: number): LogitsProcessor {
  checkNumber("topK", "k", k, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
  return (logits) => {
    if (k >= logits.length) return logits;
    const threshold = Float32Array.from(logits).sort((a, b) => b - a)[k - 1]!;
    return logits.map((x) => (x < threshold ? -Infinity : x));
  };
}

/**
 * Nucleus sampling: keeps the smallest set of most likely tokens whose probabilities add up to at
 * least p (the most likely token is always kept).
 */
export function topP(p: number): LogitsProcessor {
  checkNumber("topP", "p", p, (v) => v > 0 && v <= 1, "in (0, 1]");
  return (logits) => {
    if (p >= 1) return logits;
    const probs = softmaxRow(logits);
    const order = sortedIndices(probs);
    const out = new Float32Array(logits.length).fill(-Infinity);
    let cumulative = 0;
    for (const i of order) {
      out[i] = logits[i]!;
      cumulative += probs[i]!;
      if (cumulative >= p) break;
    }
    return out;
  };
}

/** Keeps tokens whose probability is at least p times the most likely token's. */
export function minP(p: number): LogitsProcessor {
  checkNumber("minP", "p", p, (v) => v >= 0 && v <= 1, "in [0, 1]");
  return (logits) => {
    let max = -Infinity;
    for (const x of logits) if (x > max) max = x;
    // prob_i >= p * prob_max  <=>  logit_i >= logit_max + log(p)
    const threshold = max + Math.log(p);
    return logits.map((x) => (x < threshold ? -Infinity : x));
  };
}

/**
 * CTRL's repetition penalty as transformers applies it: every token already in `ids` has a
 * positive logit divided by `penalty` and a negative one multiplied by it.
 */
export function repetitionPenalty(penalty: number): LogitsProcessor {
  checkNumber("repetitionPenalty", "penalty", penalty, (v) => v > 0 && Number.isFinite(v), "a finite number > 0");
  return (logits, ids) => {
    if (penalty === 1) return logits;
    const out = Float32Array.from(logits);
    for (const id of new Set(ids)) {
      if (id < 0 || id >= out.length) continue;
      const x = out[id]!;
      // a tiny penalty could overflow a positive logit: it saturates at the largest float32 instead
      out[id] = x > 0 ? Math.min(x / penalty, FLOAT32_MAX) : x * penalty;
    }
    return out;
  };
}

/** Forbids the given ids (e.g. padding, or [MASK] while infilling). */
export function suppressTokens(tokens: readonly number[]): LogitsProcessor {
  return (logits) => {
    const out = Float32Array.from(logits);
    for (const id of tokens) if (id >= 0 && id < out.length) out[id] = -Infinity;
    return out;
  };
}

/** Numerically stable softmax of one row; -Infinity gives probability 0. */
export function softmaxRow(logits: Float32Array): Float64Array {
  let max = -Infinity;
  for (const x of logits) if (x > max) max = x;
  const out = new Float64Array(logits.length);
  if (max === -Infinity) return out;
  let sum = 0;
  for (let i = 0; i < logits.length; i++) {
    const e = Math.exp(logits[i]! - max);
    out[i] = e;
    sum += e;
  }
  for (let i = 0; i < out.length; i++) out[i]! /= sum;
  return out;
}

/** Indices by decreasing value; ties keep the lower index first (stable). */
function sortedIndices(values: ArrayLike<number>): number[] {
  return Array.from({ length: values.length }, (_, i) => i).sort((a, b) => values[b]! - values[a]! || a - b);
}
