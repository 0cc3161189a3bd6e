import { type Rng, tensor, type Tensor } from "@llm/tensor";
import { TrainError, checkNumber } from "./errors.js";

/** GLM's special token ids for the blank-infilling objective. */
export interface GlmSpecialTokens {
  mask: number;
  sop: number;
  eop: number;
  /** Fills rows up to a common length in collateGlm (default 0). */
  pad?: number;
}

/** A span of the original text: tokens [start, start + length). */
export interface Span {
  start: number;
  length: number;
}

/** One GLM training example (host arrays, all of the same length). */
export interface GlmExample {
  /** Part A (the text with each span replaced by one [MASK]) then Part B ([sop] + span, per span). */
  readonly inputIds: number[];
  /** Positions: Part A 0..n-1; a Part B token has its span's [MASK] position. */
  readonly positions: number[];
  /** Block positions: 0 in Part A; 1, 2, ... within each span in Part B. */
  readonly blockPositions: number[];
  /** Next token in Part B (span tokens then [eop]); Part A targets are the pad/ignore value. */
  readonly targets: number[];
  /** 1 where the loss counts (Part B), 0 in Part A. */
  readonly lossMask: number[];
  /** Length of Part A: where Part B starts. */
  readonly sep: number;
}

/**
 * Lays out a GLM example for the given spans, in the order given (the order they take in Part B),
 * as the GLM paper's Figure 2 shows. Spans must not overlap.
 */
export function glmExample(tokens: readonly number[], spans: readonly Span[], special: GlmSpecialTokens, ignoreIndex = -100): GlmExample {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  sorted.forEach((s, i) => {
    if (!Number.isInteger(s.start) || !Number.isInteger(s.length) || s.length < 1 || s.start < 0 || s.start + s.length > tokens.length) {
      throw new TrainError(`glmExample: span ${JSON.stringify(s)} must lie within the ${tokens.length} tokens and have length >= 1`);
    }
    const prev = sorted[i - 1];
    if (prev && prev.start + prev.length > s.start)
      throw new TrainError(`glmExample: spans ${JSON.stringify(prev)} and ${JSON.stringify(s)} overlap`);
  });
  // Part A, remembering where each span's [MASK] lands.
  const partA: number[] = [];
  const maskAt = new Map<Span, number>();
  let i = 0;
  for (const s of sorted) {
    partA.push(...tokens.slice(i, s.start));
    maskAt.set(s, partA.length);
    partA.push(special.mask);
    i = s.start + s.length;
  }
  partA.push(...tokens.slice(i));
  const sep = partA.length;
  const ex = {
    inputIds: [...partA],
    positions: [...partA.keys()],
    blockPositions: new Array<number>(sep).fill(0),
    targets: new Array<number>(sep).fill(ignoreIndex),
    lossMask: new Array<number>(sep).fill(0),
  };
  for (const s of spans) {
    const span = tokens.slice(s.start, s.start + s.length);
    const at = maskAt.get(sorted.find((x) => x.start === s.start)!)!;
    ex.inputIds.push(special.sop, ...span);
    ex.targets.push(...span, special.eop);
    for (let k = 0; k <= s.length; k++) {
      ex.positions.push(at);
      ex.blockPositions.push(k + 1);
      ex.lossMask.push(1);
    }
  }
  return { ...ex, sep };
}

/** A Poisson(lambda) draw (Knuth's method; lambda is small). */
export function poisson(rng: Rng, lambda: number): number {
  const limit = Math.exp(-lambda);
  let k = 0;
  let p = rng.uniform();
  while (p > limit) {
    k++;
    p *= rng.uniform();
  }
  return k;
}

export interface SpanOptions {
  /** Fraction of the tokens to cover with spans (default 0.15). */
  ratio?: number;
  /** Mean span length (default 3). */
  lambda?: number;
}

/**
 * GLM's span sampling: lengths from Poisson(lambda) (zeros redrawn) until they cover `ratio` of the
 * n tokens (the last one trimmed to fit), then placed at random without overlap (every arrangement
 * of the spans among the remaining tokens equally likely). Returned in text order.
 */
export function sampleSpans(n: number, rng: Rng, options: SpanOptions = {}): Span[] {
  const { ratio = 0.15, lambda = 3 } = options;
  checkNumber("sampleSpans", "n", n, (v) => Number.isInteger(v) && v >= 2, "an integer >= 2");
  checkNumber("sampleSpans", "ratio", ratio, (v) => v > 0 && v < 1, "in (0, 1)");
  const target = Math.max(1, Math.round(n * ratio));
  const lengths: number[] = [];
  let covered = 0;
  while (covered < target) {
    let l = 0;
    while (l === 0) l = poisson(rng, lambda);
    l = Math.min(l, target - covered);
    lengths.push(l);
    covered += l;
  }
  rng.shuffle(lengths);
  // Stars and bars: choose where the k spans sit among the n - covered unmasked tokens.
  const free = n - covered;
  const k = lengths.length;
  const slots = rng
    .shuffle(Array.from({ length: free + k }, (_, i) => i))
    .slice(0, k)
    .sort((a, b) => a - b);
  let before = 0;
  return slots.map((slot, j) => {
    const start = slot - j + before;
    before += lengths[j]!;
    return { start, length: lengths[j]! };
  });
}

/** Samples spans and shuffles their Part B order: one example of the GLM objective. */
export function glmBlankInfilling(
  tokens: readonly number[],
  rng: Rng,
  special: GlmSpecialTokens,
  options: SpanOptions & { ignoreIndex?: number } = {},
): GlmExample {
  const spans = rng.shuffle(sampleSpans(tokens.length, rng, options));
  return glmExample(tokens, spans, special, options.ignoreIndex);
}

/** Batched tensors for a model's forward and the loss. */
export interface GlmBatch {
  /** int32 [batch, length] */
  ids: Tensor;
  /** int32 [batch, 2, length]: positions, then block positions. */
  positionIds: Tensor;
  /** bool [batch, length, length]: Part A sees Part A; Part B sees Part A and Part B causally. */
  attentionMask: Tensor;
  /** int32 [batch, length] */
  targets: Tensor;
  /** float32 [batch, length] */
  lossMask: Tensor;
  /** Counted targets (sum of lossMask). */
  count: number;
}

/** Query i may see key j when j is in Part A, or both are in Part B and j <= i (padding sees nothing beyond). */
export function glmAttentionMask(sep: number, length: number, used = length): Uint8Array {
  const out = new Uint8Array(length * length);
  for (let q = 0; q < length; q++) {
    for (let k = 0; k < length; k++) {
      const visible = k < sep || (k < used && k <= q);
      out[q * length + k] = visible ? 1 : 0;
    }
  }
  return out;
}

/** Pads examples to a common length (pad tokens: position 0, no loss, attend to Part A only). */
export function collateGlm(examples: readonly GlmExample[], special: GlmSpecialTokens, length?: number, ignoreIndex = -100): GlmBatch {
  const len = length ?? Math.max(...examples.map((e) => e.inputIds.length));
  const b = examples.length;
  const ids = new Int32Array(b * len).fill(special.pad ?? 0);
  const pos = new Int32Array(b * 2 * len);
  const mask = new Uint8Array(b * len * len);
  const targets = new Int32Array(b * len).fill(ignoreIndex);
  const lossMask = new Float32Array(b * len);
  let count = 0;
  examples.forEach((e, r) => {
    const n = e.inputIds.length;
    if (n > len) throw new TrainError(`collateGlm: example ${r} has ${n} tokens, more than the length ${len}`);
    ids.set(e.inputIds, r * len);
    pos.set(e.positions, r * 2 * len);
    pos.set(e.blockPositions, r * 2 * len + len);
    mask.set(glmAttentionMask(e.sep, len, n), r * len * len);
    targets.set(e.targets, r * len);
    lossMask.set(e.lossMask, r * len);
    count += e.lossMask.reduce((a, x) => a + x, 0);
  });
  return {
    ids: tensor(ids, { shape: [b, len], dtype: "int32" }),
    positionIds: tensor(pos, { shape: [b, 2, len], dtype: "int32" }),
    attentionMask: tensor(mask, { shape: [b, len, len], dtype: "bool" }),
    targets: tensor(targets, { shape: [b, len], dtype: "int32" }),
    lossMask: tensor(lossMask, { shape: [b, len] }),
    count,
  };
}
