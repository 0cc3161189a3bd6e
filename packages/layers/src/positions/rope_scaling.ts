import { LayerArgumentError } from "../errors.js";

/**
 * How a rotary encoding reaches beyond the context it was trained on: transformers' `rope_type`
 * with its parameters (modeling_rope_utils), config keys in camelCase.
 *  - "default": 1 / theta^(2i/d)
 *  - "linear": every frequency divided by `factor` (positions interpolated)
 *  - "dynamic": NTK-aware, theta grows with the sequence once it passes `maxPositions`
 *  - "llama3": Llama 3.1's bands: low frequencies divided by `factor`, high ones kept, a smooth ramp between
 *  - "yarn": interpolation and extrapolation blended per dim by a linear ramp, plus an attention factor
 *  - "longrope": Phi-3's per-dim factors, `shortFactor` up to `originalMaxPositions`, `longFactor` beyond
 */
export type RopeScaling =
  | { readonly type: "default" }
  | { readonly type: "linear"; readonly factor: number }
  | { readonly type: "dynamic"; readonly factor: number; readonly maxPositions: number }
  | {
      readonly type: "llama3";
      readonly factor: number;
      readonly lowFreqFactor: number;
      readonly highFreqFactor: number;
      readonly originalMaxPositions: number;
    }
  | {
      readonly type: "yarn";
      readonly factor: number;
      readonly originalMaxPositions: number;
      /** Default 32. */
      readonly betaFast?: number;
      /** Default 1. */
      readonly betaSlow?: number;
      readonly mscale?: number;
      readonly mscaleAllDim?: number;
      /** Overrides the factor derived from `factor` (and mscale / mscaleAllDim). */
      readonly attentionFactor?: number;
      /** Round the ramp's ends outwards (default true). */
      readonly truncate?: boolean;
    }
  | {
      readonly type: "longrope";
      readonly shortFactor: readonly number[];
      readonly longFactor: readonly number[];
      readonly originalMaxPositions: number;
      /** Context extension ratio: sets the default attention factor (Phi-3: max / original positions). */
      readonly factor: number;
      readonly attentionFactor?: number;
    };

export type RopeType = RopeScaling["type"];

export interface RotaryFrequencies {
  /** rotaryDim / 2 inverse frequencies, float32 as the references compute them. */
  readonly inverseFrequencies: Float32Array;
  /** Multiplies cos and sin, so every q.k by its square (yarn, longrope; 1 otherwise). */
  readonly attentionFactor: number;
}

const f32 = Math.fround;

/** theta^(2i/d) for i < d/2, in float32 steps like torch's `base ** (arange(0, d, 2).float() / d)`. */
function basePowers(rotaryDim: number, theta: number): Float32Array {
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => f32(f32(theta) ** f32((2 * i) / rotaryDim)));
}

/** 1 / theta^(2i/d): the unscaled inverse frequencies. */
function defaultFrequencies(rotaryDim: number, theta: number): Float32Array {
  return basePowers(rotaryDim, theta).map((p) => f32(1 / p));
}

/**
 * The inverse frequencies and attention factor of a rotary encoding over `rotaryDim` dims with base
 * `theta`, for a sequence whose largest position is `sequenceLength - 1` (only "dynamic" and
 * "longrope" depend on it; absent means "no longer than the original context").
 */
export function rotaryFrequencies(rotaryDim: number, theta: number, scaling: RopeScaling, sequenceLength?: number): RotaryFrequencies {
  checkRopeScaling(scaling, rotaryDim);
  switch (scaling.type) {
    case "default":
      return { inverseFrequencies: defaultFrequencies(rotaryDim, theta), attentionFactor: 1 };
    case "linear":
      return { inverseFrequencies: defaultFrequencies(rotaryDim, theta).map((x) => f32(x / f32(scaling.factor))), attentionFactor: 1 };
    case "dynamic":
      return { inverseFrequencies: dynamicFrequencies(rotaryDim, theta, scaling, sequenceLength), attentionFactor: 1 };
    case "llama3":
      return { inverseFrequencies: llama3Frequencies(rotaryDim, theta, scaling), attentionFactor: 1 };
    case "yarn":
      return yarnFrequencies(rotaryDim, theta, scaling);
    case "longrope": {
      const long = sequenceLength !== undefined && sequenceLength > scaling.originalMaxPositions;
      return {
        inverseFrequencies: longropeFrequencies(rotaryDim, theta, long ? scaling.longFactor : scaling.shortFactor),
        attentionFactor: longropeAttentionFactor(scaling),
      };
    }
  }
}

/**
 * NTK-aware: past `maxPositions`, theta becomes theta * (factor * L / max - (factor - 1))^(d / (d - 2))
 * for a sequence of length L (float32 arithmetic, as transformers does it on tensors).
 */
function dynamicFrequencies(
  rotaryDim: number,
  theta: number,
  scaling: Extract<RopeScaling, { type: "dynamic" }>,
  sequenceLength?: number,
): Float32Array {
  const { factor, maxPositions } = scaling;
  if (sequenceLength === undefined || sequenceLength <= maxPositions) return defaultFrequencies(rotaryDim, theta);
  const ratio = f32(f32(f32(f32(factor) * sequenceLength) / maxPositions) - f32(factor - 1));
  const base = f32(f32(theta) * f32(ratio ** f32(rotaryDim / (rotaryDim - 2))));
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => f32(1 / f32(base ** f32((2 * i) / rotaryDim))));
}

/** The exponent theta grows by in the dynamic type: d / (d - 2), as a float32 (what the tensor path uses). */
export function dynamicThetaExponent(rotaryDim: number): number {
  return f32(rotaryDim / (rotaryDim - 2));
}

/**
 * Llama 3.1: wavelengths longer than original / lowFreqFactor are divided by `factor`, shorter than
 * original / highFreqFactor are kept, and those between blend the two by where they fall.
 */
function llama3Frequencies(rotaryDim: number, theta: number, s: Extract<RopeScaling, { type: "llama3" }>): Float32Array {
  const lowWavelength = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelength = s.originalMaxPositions / s.highFreqFactor;
  return defaultFrequencies(rotaryDim, theta).map((inv) => {
    const wavelength = f32(f32(2 * Math.PI) / inv);
    if (wavelength > f32(lowWavelength)) return f32(inv / f32(s.factor));
    if (wavelength < f32(highWavelength)) return inv;
    const smooth = f32(f32(f32(s.originalMaxPositions / wavelength) - s.lowFreqFactor) / f32(s.highFreqFactor - s.lowFreqFactor));
    return f32(f32(f32(f32(1 - smooth) * inv) / f32(s.factor)) + f32(smooth * inv));
  });
}

/** YaRN's attention factor: 0.1 * mscale * ln(factor) + 1 (ratio of two when mscale and mscaleAllDim are both set). */
function yarnAttentionFactor(s: Extract<RopeScaling, { type: "yarn" }>): number {
  if (s.attentionFactor !== undefined) return s.attentionFactor;
  const mscale = (scale: number, m = 1) => (scale <= 1 ? 1 : 0.1 * m * Math.log(scale) + 1);
  if (s.mscale && s.mscaleAllDim) return mscale(s.factor, s.mscale) / mscale(s.factor, s.mscaleAllDim);
  return mscale(s.factor);
}

/**
 * YaRN: per dim, the interpolated frequency (divided by factor) and the extrapolated one (as is),
 * blended by a ramp between the dims that turn betaFast and betaSlow times over the original context.
 */
function yarnFrequencies(rotaryDim: number, theta: number, s: Extract<RopeScaling, { type: "yarn" }>): RotaryFrequencies {
  const betaFast = s.betaFast || 32;
  const betaSlow = s.betaSlow || 1;
  // the dim whose frequency turns `rotations` times over the original context
  const correctionDim = (rotations: number) =>
    (rotaryDim * Math.log(s.originalMaxPositions / (rotations * 2 * Math.PI))) / (2 * Math.log(theta));
  let low = correctionDim(betaFast);
  let high = correctionDim(betaSlow);
  if (s.truncate ?? true) [low, high] = [Math.floor(low), Math.ceil(high)];
  low = Math.max(low, 0);
  high = Math.min(high, rotaryDim - 1);
  if (low === high) high += 0.001; // no zero-width ramp
  const powers = basePowers(rotaryDim, theta);
  const inverseFrequencies = powers.map((p, i) => {
    const extrapolated = f32(1 / p);
    const interpolated = f32(1 / f32(f32(s.factor) * p));
    const ramp = Math.min(1, Math.max(0, f32(f32(i - f32(low)) / f32(high - low))));
    const extrapolation = f32(1 - ramp);
    return f32(f32(interpolated * f32(1 - extrapolation)) + f32(extrapolated * extrapolation));
  });
  return { inverseFrequencies, attentionFactor: yarnAttentionFactor(s) };
}

/** LongRoPE: 1 / (factor_i * theta^(2i/d)), with Phi-3's short or long factors. */
function longropeFrequencies(rotaryDim: number, theta: number, factors: readonly number[]): Float32Array {
  return basePowers(rotaryDim, theta).map((p, i) => f32(1 / f32(f32(factors[i]!) * p)));
}

/** sqrt(1 + ln(factor) / ln(originalMaxPositions)) for a factor above 1, else 1, unless given. */
function longropeAttentionFactor(s: Extract<RopeScaling, { type: "longrope" }>): number {
  if (s.attentionFactor !== undefined) return s.attentionFactor;
  return s.factor <= 1 ? 1 : Math.sqrt(1 + Math.log(s.factor) / Math.log(s.originalMaxPositions));
}

/** Throws naming the parameter when a scaling cannot give finite, positive frequencies over `rotaryDim` dims. */
export function checkRopeScaling(scaling: RopeScaling, rotaryDim: number): void {
  const fail = (what: string, expected: string, found: unknown): never => {
    throw new LayerArgumentError(`rope scaling "${scaling.type}": ${what} must be ${expected}, found ${JSON.stringify(found)}`);
  };
  const positive = (what: string, v: number) => {
    if (!(v > 0 && Number.isFinite(v))) fail(what, "a positive number", v);
  };
  const positions = (what: string, v: number) => {
    if (!(Number.isInteger(v) && v > 0)) fail(what, "a positive integer", v);
  };
  switch (scaling.type) {
    case "default":
      break;
    case "linear":
      positive("factor", scaling.factor);
      break;
    case "dynamic":
      positive("factor", scaling.factor);
      if (rotaryDim <= 2) fail("the rotary dim", "more than 2 (theta grows by d / (d - 2))", rotaryDim);
      positions("maxPositions", scaling.maxPositions);
      break;
    case "llama3":
      positive("factor", scaling.factor);
      positive("lowFreqFactor", scaling.lowFreqFactor);
      positive("highFreqFactor", scaling.highFreqFactor);
      if (!(scaling.highFreqFactor > scaling.lowFreqFactor)) {
        fail("highFreqFactor", `greater than lowFreqFactor (${scaling.lowFreqFactor})`, scaling.highFreqFactor);
      }
      positions("originalMaxPositions", scaling.originalMaxPositions);
      break;
    case "yarn":
      positive("factor", scaling.factor);
      if (scaling.attentionFactor !== undefined) positive("attentionFactor", scaling.attentionFactor);
      positions("originalMaxPositions", scaling.originalMaxPositions);
      break;
    case "longrope":
      positive("factor", scaling.factor);
      positions("originalMaxPositions", scaling.originalMaxPositions);
      if (scaling.attentionFactor !== undefined) positive("attentionFactor", scaling.attentionFactor);
      for (const [what, list] of [
        ["shortFactor", scaling.shortFactor],
        ["longFactor", scaling.longFactor],
      ] as const) {
        if (list.length !== rotaryDim / 2) fail(what, `a list of ${rotaryDim / 2} numbers (rotary dim / 2)`, list);
        list.forEach((v, i) => positive(`${what}[${i}]`, v));
      }
      break;
    default:
      fail("type", 'one of "default", "linear", "dynamic", "llama3", "yarn", "longrope"', (scaling as { type: unknown }).type);
  }
}
