import fc from "fast-check";
import type { LanguageModel } from "@llm/layers";
import { Rng, tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { collect, generate, generateText, SamplingError, type TextCodec } from "../src/index.js";
import { outcome, report, SEED, tally } from "../../../tests/support/fuzz.js";

// Property test of generation options: every option set to valid values, values out of range,
// NaN, the wrong type, or left out. Each call ends in a SamplingError naming the option, or in a
// continuation that keeps to what the options say (length, stop tokens, valid ids, the same
// tokens again for the same seed). Never a raw TypeError, never a silent fallback.

const VOCAB = 12;

/** A model whose logits are drawn from its input (any logits, repeatable): vocab 12, 40 positions. */
function randomModel(): LanguageModel {
  let calls = 0;
  return {
    config: { vocabSize: VOCAB, maxPositions: 40 },
    createCache() {
      calls = 0;
      return { length: 0, dispose() {} };
    },
    forward(ids) {
      const batch = ids.shape[0]!;
      const rng = new Rng(calls++);
      const logits = Float32Array.from({ length: batch * VOCAB }, () => rng.normal() * 3);
      return tensor(logits, { shape: [batch, 1, VOCAB] });
    },
  };
}

const codec: TextCodec = {
  encode: (text) => Array.from(text, (c) => c.charCodeAt(0) % VOCAB),
  decode: (ids) => ids.map((id) => String.fromCharCode(97 + id)).join(""),
};

/** A value for an option: in its range, out of it, or of another type. */
const anyValue = fc.oneof(
  fc.double(),
  fc.integer({ min: -3, max: 50 }),
  fc.constantFrom(Number.NaN, Infinity, null, "abc", "5", true, [], {}, [1, 2]),
);
const option = <T>(valid: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 3, arbitrary: valid }, { weight: 1, arbitrary: anyValue }), { nil: undefined, freq: 2 });
const optionsArb = fc.record(
  {
    temperature: option(fc.double({ min: 0, max: 3, noNaN: true })),
    topK: option(fc.integer({ min: 1, max: 20 })),
    topP: option(fc.double({ min: 0.01, max: 1, noNaN: true })),
    minP: option(fc.double({ min: 0, max: 1, noNaN: true })),
    repetitionPenalty: option(fc.double({ min: 0.1, max: 3, noNaN: true })),
    seed: option(fc.integer()),
    maxNewTokens: option(fc.integer({ min: 0, max: 12 })),
    stopTokens: option(fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { maxLength: 3 })),
    padId: option(fc.integer({ min: 0, max: VOCAB - 1 })),
    extrapolate: option(fc.boolean()),
    stopStrings: option(fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 })),
  },
  { requiredKeys: [] },
);
const promptArb = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.integer({ min: 0, max: VOCAB - 1 }), { minLength: 1, maxLength: 30 }) },
  { weight: 1, arbitrary: fc.array(fc.oneof(fc.integer({ min: -2, max: VOCAB + 2 }), fc.double()), { maxLength: 4 }) },
);

describe("generation options, property-based (fast-check)", () => {
  it("generate: a SamplingError naming an option, or a continuation that keeps to the options", async () => {
    const t = tally("generate-options");
    const model = randomModel();
    await fc.assert(
      fc.asyncProperty(optionsArb, promptArb, async (options, prompt) =>
        outcome(t, [SamplingError], async () => {
          const { stopStrings: _, ...generateOptions } = options;
          const ids = await collect(generate(model, prompt as number[], generateOptions as never)).catch((error) => {
            // the message says which option or prompt is wrong
            if (error instanceof SamplingError) expect(error.message).toMatch(/^generate: (option \w+|prompt \d|the longest prompt)/);
            throw error;
          });
          const max =
            (generateOptions.maxNewTokens as number | undefined) ?? (generateOptions.extrapolate ? 64 : Math.min(64, 40 - prompt.length));
          expect(ids.length).toBeLessThanOrEqual(max);
          for (const id of ids) expect(Number.isInteger(id) && id >= 0 && id < VOCAB).toBe(true);
          for (const stop of (generateOptions.stopTokens as number[] | undefined) ?? []) expect(ids).not.toContain(stop);
          // the same options give the same tokens (a seed, or greedy decoding, is repeatable)
          expect(await collect(generate(model, prompt as number[], generateOptions as never))).toEqual(ids);
        }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(100);
    expect(t.errors.SamplingError).toBeGreaterThan(100);
  });

  it("generateText: the same, with stop strings", async () => {
    const t = tally("generate-text-options");
    const model = randomModel();
    await fc.assert(
      fc.asyncProperty(optionsArb, fc.string({ maxLength: 20 }), async (options, prompt) =>
        outcome(t, [SamplingError], async () => {
          const text = (await collect(generateText(model, codec, prompt, options as never))).join("");
          for (const stop of (options.stopStrings as string[] | undefined) ?? []) if (stop.length > 0) expect(text).not.toContain(stop);
        }),
      ),
      { seed: SEED, numRuns: 800 },
    );
    report(t, SEED);
    expect(t.results).toBeGreaterThan(50);
  });
});
