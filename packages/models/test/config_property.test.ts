import { readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { tensor, tidy } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import { ARCHITECTURES, createModel, estimateParameterBytes, ModelConfigError } from "@llm/models";
import { FIXTURES } from "./fixture_files.js";
import { outcome, report, SEED, tally } from "../../../tests/support/fuzz.js";

// Property test of config validation: each fixture's config.json with keys changed to generated
// values (huge, negative, zero, fractional, NaN, the wrong type, nested, missing). Each must end in
// a ModelConfigError that names a key, or in a model within the parameter budget; a small one is
// initialized and run, and its logits must be finite. Never a raw TypeError/RangeError, never a
// hang or an allocation of gigabytes.

const configs = [...ARCHITECTURES.keys()].map((name) => ({
  name,
  config: JSON.parse(readFileSync(join(FIXTURES, name, "config.json"), "utf8")) as Record<string, unknown>,
}));
/** Keys any family reads, so a family also meets keys from the others. */
const allKeys = [...new Set(configs.flatMap(({ config }) => Object.keys(config)))].filter((k) => k !== "model_type");

const value = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: -4, max: 200 }) },
  { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 3, 64, 1e9, 2 ** 31, 2 ** 53, -1, 0.5, 1e-12, 1e300) },
  { weight: 2, arbitrary: fc.double({ noDefaultInfinity: false, noNaN: false }) },
  { weight: 1, arbitrary: fc.constantFrom(Number.NaN, Infinity, -Infinity) },
  {
    weight: 2,
    arbitrary: fc.constantFrom(null, true, false, "", "gelu", "silu", "relu", "swish", "default", "linear", "abc", "layernorm"),
  },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) },
  {
    weight: 1,
    arbitrary: fc.record(
      { rope_type: fc.constantFrom("default", "linear", "yarn"), rope_theta: fc.double(), partial_rotary_factor: fc.double() },
      { requiredKeys: [] },
    ),
  },
);
/** An edit of one key (deleted when the value is undefined): mostly the family's own keys. */
const editOf = (own: string[]) =>
  fc.record({
    key: fc.oneof(
      { weight: 6, arbitrary: fc.constantFrom(...own) },
      { weight: 1, arbitrary: fc.constantFrom(...allKeys) },
      { weight: 1, arbitrary: fc.string({ maxLength: 8 }) },
    ),
    value: fc.option(value, { nil: undefined, freq: 8 }),
  });
const input = fc
  .constantFrom(...configs)
  .chain((c) =>
    fc.tuple(fc.constant(c), fc.array(editOf(Object.keys(c.config).filter((k) => k !== "model_type")), { minLength: 1, maxLength: 3 })),
  );

const BUDGET = 64e6;
const RUN_BUDGET = 1e6;
/** Models initialized and run (the rest are built without weights): enough to meet NaN, few enough to stay quick. */
const RUNS = 100;

describe("config validation, property-based (fast-check)", () => {
  it("every mutated config is refused naming a key, or builds a model that fits and runs to finite logits", async () => {
    const t = tally("model-configs");
    let ran = 0;
    await fc.assert(
      fc.asyncProperty(input, ([{ name, config }, edits]) =>
        outcome(t, [ModelConfigError], () => {
          const mutated: Record<string, unknown> = { ...config };
          for (const e of edits) {
            if (e.value === undefined) delete mutated[e.key];
            else mutated[e.key] = e.value;
          }
          try {
            const model = ARCHITECTURES.get(name)!.create(mutated, { maxParameterBytes: BUDGET });
            const bytes = estimateParameterBytes(model);
            expect(bytes).toBeLessThanOrEqual(BUDGET);
            model.dispose();
            if (bytes > RUN_BUDGET || ran >= RUNS) return;
            ran++;
            const built = createModel(mutated, { maxParameterBytes: BUDGET });
            const vocab = built.config.vocabSize;
            const seq = Math.min(4, built.config.maxPositions);
            const ids = Int32Array.from({ length: seq }, (_, i) => i % vocab);
            const logits = tidy(() => built.forward(tensor(ids, { shape: [1, seq], dtype: "int32" })));
            expect(logits.shape).toEqual([1, seq, vocab]);
            const values = logits.dataSync();
            const bad = values.findIndex((v) => !Number.isFinite(v));
            expect(bad, `${name}: non-finite logit at ${bad} with ${JSON.stringify(edits)}`).toBe(-1);
            logits.dispose();
            built.dispose();
          } catch (error) {
            if (error instanceof ModelConfigError)
              expect(error.message).toMatch(
                /config: "[^"]+"|config: describes|config: these values|maxParameterBytes|config\.json: "model_type"/,
              );
            throw error;
          }
        }),
      ),
      { seed: SEED, numRuns: 1500 },
    );
    report(t, SEED);
    console.log(`model-configs: ${ran} of the models built were initialized and run`);
    expect(t.results).toBeGreaterThan(200);
    expect(t.errors.ModelConfigError).toBeGreaterThan(200);
  });
});
