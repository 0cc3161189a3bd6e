import type { TokenSampling } from "../backend.js";
import { tidy } from "../engine.js";
import { ArgumentError, ShapeError, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { arange } from "./creation.js";
import { fromBuffer, requireFloat, sameBackend } from "./core.js";
import { where } from "./elementwise.js";
import { scatterAdd } from "./indexing.js";

/** What `sampleTokens` does to each row before it picks (absent: that step is skipped). */
export interface SampleTokensOptions {
  /** argmax of the (penalised) row instead of a draw; the other options but the penalty are ignored. */
  greedy?: boolean;
  /** Divides the logits (> 0; default 1). */
  temperature?: number;
  /** Keeps the k largest (ties at the k-th kept). */
  topK?: number;
  /** Keeps the smallest most-likely set with probability >= p. */
  topP?: number;
  /** Keeps tokens with probability >= p times the most likely one's. */
  minP?: number;
  /** CTRL's penalty on the ids in `seen`: positive logits divided by it, negative multiplied. */
  repetitionPenalty?: number;
  /** int32 [batch, n]: the distinct ids each row has seen (-1 pads a row); needed with repetitionPenalty. */
  seen?: Tensor | null;
  /** float32 [batch]: one uniform draw in [0, 1) per row; needed unless greedy. */
  uniforms?: Tensor | null;
}

/** Ids `sampleTokens` returns for a row it cannot sample from. */
export const SAMPLE_ALL_REMOVED = -1;
export const SAMPLE_NOT_FINITE = -2;

/**
 * Picks one token id per row of `logits` [batch, vocab] on the logits' own backend, so decoding
 * reads back one id per row instead of the whole row: repetition penalty, then temperature, top-k,
 * top-p and min-p (the order @llm/sampling's host processors use), then argmax (greedy) or the
 * smallest index whose cumulative probability exceeds the row's uniform draw. Returns int32
 * [batch]; a row whose every token was removed gives SAMPLE_ALL_REMOVED (-1), a row holding NaN
 * or +Infinity gives SAMPLE_NOT_FINITE (-2). A backend's fused kernel runs it in one dispatch;
 * otherwise it is composed from primitives (thresholds found by bisection).
 */
export function sampleTokens(logits: Tensor, options: SampleTokensOptions = {}): Tensor {
  requireFloat(logits, "sampleTokens", "logits");
  if (logits.rank !== 2) throw new ShapeError(`sampleTokens: logits must be [batch, vocab], found shape ${fmtShape(logits.shape)}`);
  const [batch] = logits.shape as [number, number];
  const p = samplingParams(options);
  const seen = p.repetitionPenalty !== 1 ? (options.seen ?? null) : null;
  if (p.repetitionPenalty !== 1 && !seen)
    throw new ArgumentError("sampleTokens: repetitionPenalty needs `seen`, the ids each row has seen");
  if (seen && (seen.dtype !== "int32" || seen.rank !== 2 || seen.shape[0] !== batch)) {
    throw new ShapeError(`sampleTokens: seen must be int32 [${batch}, n], found ${seen.dtype} ${fmtShape(seen.shape)}`);
  }
  const uniforms = p.greedy ? null : (options.uniforms ?? null);
  if (!p.greedy && (uniforms?.dtype !== "float32" || uniforms.rank !== 1 || uniforms.shape[0] !== batch)) {
    const found = uniforms ? `${uniforms.dtype} ${fmtShape(uniforms.shape)}` : "none";
    throw new ShapeError(`sampleTokens: sampling needs uniforms, float32 [${batch}], found ${found}`);
  }
  const backend = sameBackend("sampleTokens", ...[logits, seen, uniforms].filter((t): t is Tensor => t !== null));
  const fused = backend.fused?.sampleTokens;
  if (fused) return fromBuffer(backend, fused(logits.view(), seen?.view() ?? null, uniforms?.view() ?? null, p), [batch], "int32");
  return tidy(() => composedSample(logits, seen, uniforms, p));
}

function samplingParams(o: SampleTokensOptions): TokenSampling {
  const check = (name: string, v: number | undefined, ok: (v: number) => boolean, expected: string): void => {
    if (v !== undefined && !(typeof v === "number" && ok(v)))
      throw new ArgumentError(`sampleTokens: ${name} must be ${expected}, found ${v}`);
  };
  // below the smallest normal float32, GPUs may flush t to 0
  check("temperature", o.temperature, (v) => v >= FLOAT32_MIN_NORMAL && Number.isFinite(v), "a finite number >= 1.1754943508222875e-38");
  check("topK", o.topK, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
  check("topP", o.topP, (v) => v > 0 && v <= 1, "in (0, 1]");
  check("minP", o.minP, (v) => v >= 0 && v <= 1, "in [0, 1]");
  check("repetitionPenalty", o.repetitionPenalty, (v) => v > 0 && Number.isFinite(v), "a finite number > 0");
  return {
    greedy: o.greedy === true,
    temperature: o.temperature ?? 1,
    topK: o.topK ?? 0,
    topP: o.topP ?? 1,
    minP: o.minP ?? 0,
    repetitionPenalty: o.repetitionPenalty ?? 1,
  };
}

const FLOAT32_MAX = 3.4028234663852886e38;
/** The smallest temperature sampleTokens takes: the smallest normal float32. */
export const FLOAT32_MIN_NORMAL = 1.1754943508222875e-38;
/** Bisection steps for a threshold between two logits: enough to separate adjacent float32 values in a row's range. */
const BISECTION_STEPS = 48;

/** The same steps from primitive ops: [batch, vocab] passes, thresholds by bisection per row. */
function composedSample(logits: Tensor, seen: Tensor | null, uniforms: Tensor | null, p: TokenSampling): Tensor {
  const [batch, vocab] = logits.shape as [number, number];
  const backend = logits.backend;
  const opts = { backend };
  const bad = logits.ne(logits).logicalOr(logits.eq(Infinity)).float().max(-1); // [batch]
  let x = logits.contiguous();
  if (seen) {
    const valid = seen.ge(0);
    const flat = where(valid, seen, 0)
      .add(arange(0, batch, 1, opts).mul(vocab).unsqueeze(1))
      .reshape(-1);
    const hit = scatterAdd(valid.float().reshape(-1), flat, 0, [batch * vocab])
      .gt(0)
      .reshape(batch, vocab);
    const penalised = where(x.gt(0), x.div(p.repetitionPenalty).minimum(FLOAT32_MAX), x.mul(p.repetitionPenalty));
    x = where(hit, penalised, x);
  }
  let id: Tensor;
  if (p.greedy) {
    id = x.argmax(-1);
  } else {
    if (p.temperature !== 1) {
      const scaled = x.div(p.temperature);
      const overflow = scaled.eq(Infinity).float().max(-1, true).gt(0);
      x = where(overflow, x.sub(x.max(-1, true)).div(p.temperature), scaled);
    }
    if (p.topK > 0 && p.topK < vocab) {
      const k = p.topK;
      x = where(x.lt(threshold(x, (t) => x.ge(t).float().sum(-1, true).ge(k))), -Infinity, x);
    }
    if (p.topP < 1) {
      const e = x.sub(x.max(-1, true)).exp();
      const target = e.sum(-1, true).mul(p.topP);
      const lo = threshold(x, (t) => where(x.ge(t), e, 0).sum(-1, true).ge(target));
      // logits equal at the cut are kept in id order until the mass reaches p (as the host's stable sort)
      const above = where(x.gt(lo), e, 0).sum(-1, true);
      const need = target
        .sub(above)
        .div(lo.sub(x.max(-1, true)).exp())
        .neg()
        .floor()
        .neg()
        .maximum(1);
      const tie = x.eq(lo);
      const keep = x.gt(lo).logicalOr(tie.logicalAnd(tie.int().cumsum(-1).float().le(need)));
      x = where(keep, x, -Infinity);
    }
    if (p.minP > 0) x = where(x.lt(x.max(-1, true).add(Math.log(p.minP))), -Infinity, x);
    const e = x.sub(x.max(-1, true)).exp();
    const cumulative = e.cumsum(-1);
    const target = e.sum(-1, true).mul(uniforms!.unsqueeze(1));
    const drawn = cumulative.le(target).int().sum(-1); // the first index whose cumulative mass passes the draw
    const lastKept = where(e.gt(0), arange(0, vocab, 1, opts), -1).max(-1);
    id = where(drawn.ge(vocab), lastKept, drawn);
  }
  const removed = x.max(-1).eq(-Infinity);
  return where(bad.gt(0), SAMPLE_NOT_FINITE, where(removed, SAMPLE_ALL_REMOVED, id.reshape(batch)));
}

/**
 * Per row [batch, 1], the largest value t of the row for which `holds(t)` is true (holds is true
 * at the row's smallest finite value and monotone: true below some point, false above). Found by
 * bisection between the row's extremes, then moved up to the row value it stands for.
 */
function threshold(x: Tensor, holds: (t: Tensor) => Tensor): Tensor {
  const finite = x.gt(-Infinity);
  let lo = where(finite, x, FLOAT32_MAX).min(-1, true);
  let hi = x.max(-1, true);
  const atMax = holds(hi);
  lo = where(atMax, hi, lo);
  for (let i = 0; i < BISECTION_STEPS; i++) {
    const mid = lo.add(hi.sub(lo).mul(0.5));
    const ok = holds(mid);
    lo = where(ok, mid, lo);
    hi = where(ok, hi, mid);
  }
  return where(x.ge(lo), x, Infinity).min(-1, true);
}
