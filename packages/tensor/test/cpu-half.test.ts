import { describe, expect, it } from "vitest";
import { bfloat16BitsToFloat32, float16BitsToFloat32, float32ToBfloat16Bits, float32ToFloat16Bits } from "../src/cpu/half.js";
import { randomF32 } from "./cpu-helpers.js";

describe("float16 conversion", () => {
  it("encodes known values", () => {
    expect(float32ToFloat16Bits(1)).toBe(0x3c00);
    expect(float32ToFloat16Bits(-2)).toBe(0xc000);
    expect(float32ToFloat16Bits(65504)).toBe(0x7bff);
    expect(float32ToFloat16Bits(65520)).toBe(0x7c00); // halfway to 2^16 rounds to even: inf
    expect(float32ToFloat16Bits(65519)).toBe(0x7bff);
    expect(float32ToFloat16Bits(1e6)).toBe(0x7c00);
    expect(float32ToFloat16Bits(-Infinity)).toBe(0xfc00);
    expect(float32ToFloat16Bits(-0)).toBe(0x8000);
    expect(float32ToFloat16Bits(2 ** -24)).toBe(0x0001);
    expect(float32ToFloat16Bits(2 ** -25)).toBe(0x0000); // tie with zero: even
    expect(float32ToFloat16Bits(1.5 * 2 ** -25)).toBe(0x0001);
    expect(float32ToFloat16Bits(3 * 2 ** -25)).toBe(0x0002); // tie between 1 and 2: even
    expect(float32ToFloat16Bits(1 + 2 ** -11)).toBe(0x3c00); // tie: even
    expect(float32ToFloat16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(float32ToFloat16Bits(2 ** -14 - 2 ** -25)).toBe(0x0400); // subnormal rounds up to the smallest normal
    const nan = float32ToFloat16Bits(NaN);
    expect((nan & 0x7c00) === 0x7c00 && (nan & 0x3ff) !== 0).toBe(true);
  });

  it("round-trips every float16 bit pattern", () => {
    for (let bits = 0; bits < 65536; bits++) {
      const f = float16BitsToFloat32(bits);
      if (Number.isNaN(f)) continue;
      expect(float32ToFloat16Bits(f)).toBe(bits);
    }
  });

  it("rounds random float32 values to the nearest float16", () => {
    const xs = randomF32(20000, 1, 2);
    for (let i = 0; i < xs.length; i++) {
      const x = xs[i]! * 2 ** ((i % 40) - 25);
      const b = float32ToFloat16Bits(x);
      const err = Math.abs(float16BitsToFloat32(b) - x);
      for (const nb of [b - 1, b + 1]) {
        if ((nb & 0x7fff) >= 0x7c00 || nb < 0 || (nb & 0x8000) !== (b & 0x8000)) continue;
        expect(err).toBeLessThanOrEqual(Math.abs(float16BitsToFloat32(nb) - x));
      }
    }
  });
});

describe("bfloat16 conversion", () => {
  it("encodes known values with round to nearest even", () => {
    expect(float32ToBfloat16Bits(1)).toBe(0x3f80);
    expect(float32ToBfloat16Bits(-2)).toBe(0xc000);
    expect(float32ToBfloat16Bits(1 + 2 ** -8)).toBe(0x3f80); // tie: even
    expect(float32ToBfloat16Bits(1 + 3 * 2 ** -8)).toBe(0x3f82);
    expect(float32ToBfloat16Bits(1 + 2 ** -8 + 2 ** -20)).toBe(0x3f81);
    expect(float32ToBfloat16Bits(Infinity)).toBe(0x7f80);
    expect(float32ToBfloat16Bits(3.4e38)).toBe(0x7f80); // rounds past the largest finite value
    const nan = float32ToBfloat16Bits(NaN);
    expect(Number.isNaN(bfloat16BitsToFloat32(nan))).toBe(true);
  });

  it("round-trips every bfloat16 bit pattern", () => {
    for (let bits = 0; bits < 65536; bits++) {
      const f = bfloat16BitsToFloat32(bits);
      if (Number.isNaN(f)) continue;
      expect(float32ToBfloat16Bits(f)).toBe(bits);
    }
  });
});
