import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { tensor } from "@llm/tensor";
import { LayerArgumentError, RotaryEmbedding, rotaryFrequencies, type RopeScaling } from "@llm/layers";
import { values } from "./helpers.js";

/**
 * Every rope_type against transformers' own functions: golden/rope_scaling.json was written by
 * golden/rope_scaling.py (transformers 5.17) from modeling_rope_utils and the rotary modules.
 */
interface GoldenCase {
  name: string;
  ropeParameters: Record<string, number | string | boolean | number[]>;
  headDim: number;
  rotaryDim: number;
  maxPositionEmbeddings: number;
  evaluations: {
    sequenceLength: number;
    positions: number[];
    inverseFrequencies: number[];
    attentionFactor: number;
    cos: number[];
    sin: number[];
  }[];
}

const golden = JSON.parse(readFileSync(new URL("./golden/rope_scaling.json", import.meta.url), "utf8")) as { cases: GoldenCase[] };

/** transformers' rope parameters (as standardized) -> our RopeScaling, the way a config reader maps them. */
function scalingOf(c: GoldenCase): RopeScaling {
  const p = c.ropeParameters as Record<string, never>;
  switch (p.rope_type as string) {
    case "default":
      return { type: "default" };
    case "linear":
      return { type: "linear", factor: p.factor };
    case "dynamic":
      return { type: "dynamic", factor: p.factor, maxPositions: c.maxPositionEmbeddings };
    case "llama3":
      return {
        type: "llama3",
        factor: p.factor,
        lowFreqFactor: p.low_freq_factor,
        highFreqFactor: p.high_freq_factor,
        originalMaxPositions: p.original_max_position_embeddings,
      };
    case "yarn":
      return {
        type: "yarn",
        factor: p.factor,
        originalMaxPositions: p.original_max_position_embeddings,
        betaFast: p.beta_fast,
        betaSlow: p.beta_slow,
        mscale: p.mscale,
        mscaleAllDim: p.mscale_all_dim,
        attentionFactor: p.attention_factor,
        truncate: p.truncate,
      };
    case "longrope":
      return {
        type: "longrope",
        shortFactor: p.short_factor,
        longFactor: p.long_factor,
        originalMaxPositions: p.original_max_position_embeddings,
        factor: p.factor ?? c.maxPositionEmbeddings / p.original_max_position_embeddings,
        attentionFactor: p.attention_factor,
      };
  }
  throw new Error(`no mapping for ${p.rope_type}`);
}

/** Largest |a - b| / |b| (|a - b| where b is 0). */
function relativeError(actual: ArrayLike<number>, expected: readonly number[]): number {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    worst = Math.max(worst, expected[i] === 0 ? d : d / Math.abs(expected[i]!));
  }
  return worst;
}

const rotary = (c: GoldenCase) =>
  new RotaryEmbedding(c.headDim, {
    rotaryDim: c.rotaryDim,
    theta: c.ropeParameters.rope_theta as number,
    style: "half",
    scaling: scalingOf(c),
  });

describe.each(golden.cases.map((c) => [c.name, c] as const))("rope scaling %s, against transformers", (_, c) => {
  it.each(c.evaluations.map((e) => [e.sequenceLength, e] as const))(
    "inverse frequencies and attention factor for a sequence of %i",
    (length, e) => {
      const r = rotary(c);
      // float32 like the reference; within 2 ulp (pow may round differently from torch's)
      expect(relativeError(r.frequencies(length), e.inverseFrequencies)).toBeLessThanOrEqual(2 ** -22);
      expect(r.attentionFactor).toBeCloseTo(e.attentionFactor, 12);
    },
  );

  it.each(c.evaluations.map((e) => [e.sequenceLength, e] as const))(
    "cos and sin on the device for positions ending at %i - 1 (the length read from the positions)",
    (_length, e) => {
      const { cos, sin } = rotary(c).angles(tensor([e.positions], { dtype: "int32" }));
      const worst = Math.max(...values(cos).map((x, i) => Math.abs(x - e.cos[i]!)), ...values(sin).map((x, i) => Math.abs(x - e.sin[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-5);
    },
  );
});

describe("rope scaling, derived by hand", () => {
  const base = (d: number, theta: number) => rotaryFrequencies(d, theta, { type: "default" }).inverseFrequencies;

  it("linear divides every frequency by the factor", () => {
    const scaled = rotaryFrequencies(8, 10000, { type: "linear", factor: 4 }).inverseFrequencies;
    expect(Array.from(scaled)).toEqual(Array.from(base(8, 10000)).map((x) => Math.fround(x / 4)));
  });

  it("llama3 keeps short wavelengths, divides long ones, blends between (the fixture's bands)", () => {
    // original 16, low/high frequency factors 1/4: wavelengths < 4 kept, > 16 divided by 8, between blended
    const inv = base(16, 500000);
    const scaled = rotaryFrequencies(16, 500000, {
      type: "llama3",
      factor: 8,
      lowFreqFactor: 1,
      highFreqFactor: 4,
      originalMaxPositions: 16,
    }).inverseFrequencies;
    inv.forEach((x, i) => {
      const wavelength = (2 * Math.PI) / x;
      const expected =
        wavelength < 4 ? x : wavelength > 16 ? x / 8 : (1 - (16 / wavelength - 1) / 3) * (x / 8) + ((16 / wavelength - 1) / 3) * x;
      expect(scaled[i]).toBeCloseTo(expected, 7);
    });
    // the fixture's dims fall in the blended band and the divided one
    expect(inv.filter((x) => (2 * Math.PI) / x > 16).length).toBeGreaterThan(0);
    expect(inv.filter((x) => (2 * Math.PI) / x >= 4 && (2 * Math.PI) / x <= 16).length).toBeGreaterThan(0);
  });

  it("yarn's attention factor is 0.1 ln(factor) + 1, and its ends are the extrapolated and the interpolated frequencies", () => {
    const { inverseFrequencies, attentionFactor } = rotaryFrequencies(16, 10000, { type: "yarn", factor: 4, originalMaxPositions: 32 });
    expect(attentionFactor).toBeCloseTo(0.1 * Math.log(4) + 1, 12);
    const inv = base(16, 10000);
    expect(inverseFrequencies[0]).toBe(inv[0]); // the fastest dim turns > 32 times: kept
    expect(inverseFrequencies[7]).toBeCloseTo(inv[7]! / 4, 9); // the slowest turns < once: interpolated
  });

  it("longrope picks the short factors up to the original context and the long ones beyond", () => {
    const s: RopeScaling = {
      type: "longrope",
      shortFactor: [1, 2, 3, 4],
      longFactor: [5, 6, 7, 8],
      originalMaxPositions: 16,
      factor: 4,
    };
    const inv = base(8, 10000);
    const at = (length: number) => Array.from(rotaryFrequencies(8, 10000, s, length).inverseFrequencies);
    expect(at(16)).toEqual(Array.from(inv).map((x, i) => Math.fround(1 / Math.fround((i + 1) * Math.fround(1 / x)))));
    at(17).forEach((x, i) => expect(Math.abs(x - inv[i]! / (i + 5)) / x).toBeLessThan(1e-6));
    expect(rotaryFrequencies(8, 10000, s).attentionFactor).toBeCloseTo(Math.sqrt(1 + Math.log(4) / Math.log(16)), 12);
  });

  it("factor 1 equals no scaling (linear, llama3, yarn, longrope), and dynamic within its context is none", () => {
    const inv = Array.from(base(16, 10000));
    const unscaled: RopeScaling[] = [
      { type: "linear", factor: 1 },
      { type: "llama3", factor: 1, lowFreqFactor: 1, highFreqFactor: 4, originalMaxPositions: 16 },
      { type: "yarn", factor: 1, originalMaxPositions: 32 },
      { type: "longrope", shortFactor: Array(8).fill(1), longFactor: Array(8).fill(1), originalMaxPositions: 16, factor: 1 },
      { type: "dynamic", factor: 3, maxPositions: 64 },
    ];
    for (const scaling of unscaled) {
      const r = new RotaryEmbedding(16, { style: "half", scaling });
      for (const length of [8, 64]) expect(Array.from(r.frequencies(length)), `${scaling.type} at ${length}`).toEqual(inv);
      expect(r.attentionFactor).toBe(1);
      // and so do the angles the device computes
      const positions = tensor([[0, 5, 63]], { dtype: "int32" });
      const plain = new RotaryEmbedding(16, { style: "half" }).angles(positions);
      expect(values(r.angles(positions).cos)).toEqual(values(plain.cos));
    }
  });

  it("dynamic grows theta once the positions pass maxPositions, and only then", () => {
    const r = new RotaryEmbedding(8, { style: "half", scaling: { type: "dynamic", factor: 2, maxPositions: 16 } });
    // cos [1, 1, 2 positions, 4 frequencies]: the last position's angle of frequency 1
    const lastAngle = (positions: number[]) => values(r.angles(tensor([positions], { dtype: "int32" })).cos)[4 + 1]!;
    const short = r.frequencies(16);
    const long = r.frequencies(40);
    expect(long[1]).toBeLessThan(short[1]! * 0.9);
    expect(lastAngle([1, 15])).toBeCloseTo(Math.cos(15 * short[1]!), 5);
    expect(lastAngle([1, 39])).toBeCloseTo(Math.cos(39 * long[1]!), 5);
    expect(Math.abs(Math.cos(39 * long[1]!) - Math.cos(39 * short[1]!))).toBeGreaterThan(0.04);
  });

  it("names what is wrong with a scaling", () => {
    const cases: [RopeScaling, RegExp][] = [
      [{ type: "linear", factor: 0 }, /rope scaling "linear": factor must be a positive number, found 0/],
      [
        { type: "llama3", factor: 8, lowFreqFactor: 4, highFreqFactor: 1, originalMaxPositions: 16 },
        /highFreqFactor must be greater than lowFreqFactor \(4\), found 1/,
      ],
      [
        { type: "longrope", shortFactor: [1, 1], longFactor: [1, 1, 1, 1], originalMaxPositions: 16, factor: 2 },
        /shortFactor must be a list of 4 numbers \(rotary dim \/ 2\), found \[1,1\]/,
      ],
      [{ type: "dynamic", factor: 2, maxPositions: 0 }, /maxPositions must be a positive integer, found 0/],
      [
        { type: "ntk" } as unknown as RopeScaling,
        /type must be one of "default", "linear", "dynamic", "llama3", "yarn", "longrope", found "ntk"/,
      ],
    ];
    for (const [scaling, message] of cases) {
      expect(() => new RotaryEmbedding(8, { style: "half", scaling })).toThrow(LayerArgumentError);
      expect(() => new RotaryEmbedding(8, { style: "half", scaling })).toThrow(message);
    }
  });
});
