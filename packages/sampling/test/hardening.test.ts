import type { LanguageModel } from "@llm/layers";
import { LayerArgumentError } from "@llm/layers";
import { tensor } from "@llm/tensor";
import { describe, expect, it } from "vitest";
import {
  collect,
  createSampler,
  generate,
  generateBatch,
  generateText,
  repetitionPenalty,
  SamplingError,
  temperature,
  type TextCodec,
} from "../src/index.js";
import { fixture } from "./fixtures.js";

/** A model whose logits at step `badStep` hold `value` (NaN, Infinity) at id 3; elsewhere one-hot on id 1. */
function brokenModel(badStep: number, value: number, vocabSize = 8): LanguageModel {
  let step = 0;
  return {
    config: { vocabSize, maxPositions: Infinity },
    createCache() {
      step = 0;
      return { length: 0, dispose() {} };
    },
    forward(ids) {
      const batch = ids.shape[0]!;
      const logits = new Float32Array(batch * vocabSize);
      for (let b = 0; b < batch; b++) logits[b * vocabSize + 1] = 1;
      if (step++ === badStep) logits[3] = value;
      return tensor(logits, { shape: [batch, 1, vocabSize] });
    },
  };
}

const bytes: TextCodec = {
  encode: (text) => Array.from(new TextEncoder().encode(text)),
  decode: (ids) => new TextDecoder().decode(Uint8Array.from(ids.map((id) => id & 0xff))),
};

describe("NaN and infinite logits are an error naming the step, never a token", () => {
  it("greedy decoding (it returned token 0 at every step)", async () => {
    const run = collect(generate(brokenModel(2, Number.NaN), [1, 2], { maxNewTokens: 5 }));
    await expect(run).rejects.toThrow(SamplingError);
    await expect(collect(generate(brokenModel(2, Number.NaN), [1, 2], { maxNewTokens: 5 }))).rejects.toThrow(
      /generate: step 2: the model's logits for prompt 0 hold NaN at token id 3; expected finite values/,
    );
  });

  it("sampling (it blamed the processors)", async () => {
    await expect(
      collect(generate(brokenModel(0, Number.POSITIVE_INFINITY), [1], { maxNewTokens: 3, temperature: 0.7, seed: 1 })),
    ).rejects.toThrow(/generate: step 0: the model's logits for prompt 0 hold Infinity at token id 3/);
  });

  it("a processor that makes NaN is named as the cause", async () => {
    const nan = (row: Float32Array) => row.map(() => Number.NaN);
    await expect(collect(generate(brokenModel(-1, 0), [1], { maxNewTokens: 3, processors: [nan] }))).rejects.toThrow(
      /generate: step 0, prompt 0: sample: the logits processors returned NaN at token id 0/,
    );
  });

  it("greedy decoding with every token removed is an error (argmax answered 0)", async () => {
    const removeAll = (row: Float32Array) => row.map(() => Number.NEGATIVE_INFINITY);
    await expect(collect(generate(brokenModel(-1, 0), [1], { maxNewTokens: 3, processors: [removeAll] }))).rejects.toThrow(
      /step 0, prompt 0: sample: every logit is -Infinity; the processors removed all tokens/,
    );
  });
});

describe("extreme but valid options do not overflow into Infinity (found by the property test)", () => {
  it("temperature 5e-324 samples the most likely token, as the limit t -> 0 does", async () => {
    const row = Float32Array.from([1, 3, 2]);
    expect(Array.from(temperature(5e-324)(row, []))).toEqual([-Infinity, 0, -Infinity]);
    expect(Array.from(temperature(0.5)(row, []))).toEqual([2, 6, 4]);
    expect(await collect(generate(brokenModel(-1, 0), [1], { maxNewTokens: 3, temperature: 5e-324, seed: 3 }))).toEqual([1, 1, 1]);
  });

  it("repetitionPenalty 5e-324 saturates at the largest float32", () => {
    const out = repetitionPenalty(5e-324)(Float32Array.from([1, -1, 2]), [0, 1]);
    expect(Array.from(out)).toEqual([3.4028234663852886e38, -0, 2]);
  });
});

describe("every generation option is checked, by name", () => {
  const model = brokenModel(-1, 0);
  const bad: [string, Record<string, unknown>, RegExp][] = [
    ["seed NaN (acted as 0)", { seed: Number.NaN }, /option seed must be an integer >= -\d+, found NaN/],
    ['seed "abc" (acted as 0)', { seed: "abc" }, /option seed must be an integer >= -\d+, found "abc"/],
    ["stopTokens: 5 (raw TypeError)", { stopTokens: 5 }, /option stopTokens must be an array of token ids \(integers >= 0\), found 5/],
    ["stopTokens: [1.5]", { stopTokens: [1.5] }, /option stopTokens\[0\] must be token ids \(integers >= 0\), found 1\.5/],
    ["temperature: -1", { temperature: -1 }, /option temperature must be a finite number >= 0 \(0: greedy\), found -1/],
    ["temperature: Infinity", { temperature: Infinity }, /option temperature must be a finite number >= 0/],
    ["topK: 0 (with greedy, never checked before)", { temperature: 0, topK: 0 }, /option topK must be an integer >= 1, found 0/],
    ["topP: 1.5", { topP: 1.5 }, /option topP must be a number in \(0, 1\], found 1\.5/],
    ["minP: NaN", { minP: Number.NaN }, /option minP must be a number in \[0, 1\], found NaN/],
    ["repetitionPenalty: 0", { repetitionPenalty: 0 }, /option repetitionPenalty must be a finite number > 0, found 0/],
    ["processors: a function", { processors: (r: Float32Array) => r }, /option processors must be an array of functions/],
    ["processors: [null]", { processors: [null] }, /option processors\[0\] must be functions \(logits, ids\) => logits, found null/],
    ["rng: {}", { rng: {} }, /option rng must be an Rng \(an object with uniform\(\)\), found a Object/],
    ["maxNewTokens: -1", { maxNewTokens: -1 }, /option maxNewTokens must be an integer >= 0, found -1/],
    ['maxNewTokens: "5"', { maxNewTokens: "5" }, /option maxNewTokens must be an integer >= 0, found "5"/],
    ["padId past the vocabulary", { padId: 8 }, /option padId must be an integer in \[0, 7\], found 8/],
    ["extrapolate: 1", { extrapolate: 1 }, /option extrapolate must be true or false, found 1/],
  ];
  for (const [what, options, message] of bad) {
    it(`generate: ${what}`, async () => {
      await expect(collect(generate(model, [1], options as never))).rejects.toThrow(SamplingError);
      await expect(collect(generate(model, [1], options as never))).rejects.toThrow(message);
    });
  }

  it("createSampler checks its options the same way", () => {
    expect(() => createSampler({ seed: "abc" as never })).toThrow(/createSampler: option seed must be an integer/);
  });

  it('generateText: stopStrings "abc" and [null] (raw TypeErrors)', async () => {
    await expect(collect(generateText(model, bytes, "a", { stopStrings: "abc" as never }))).rejects.toThrow(
      /generateText: option stopStrings must be an array of strings, found "abc"/,
    );
    await expect(collect(generateText(model, bytes, "a", { stopStrings: [null] as never }))).rejects.toThrow(
      /generateText: option stopStrings\[0\] must be strings, found null/,
    );
  });

  it("options and prompts that are not what they should be", async () => {
    await expect(collect(generate(model, [1], null as never))).rejects.toThrow(/generate: options must be an object, found null/);
    await expect(collect(generateBatch(model, [[1], "ab" as never]))).rejects.toThrow(
      /generate: prompt 1 must be an array of token ids, found "ab"/,
    );
    await expect(collect(generateText(model, bytes, 5 as never))).rejects.toThrow(
      /generateText: prompt must be a string or an array of token ids, found 5/,
    );
  });
});

describe("positions past the config's declared length", () => {
  it("a prompt exactly at the context length is an error (it yielded nothing, silently)", async () => {
    const { model } = await fixture("gpt2");
    const prompt = Array.from({ length: 64 }, (_, i) => i);
    await expect(collect(generate(model, prompt))).rejects.toThrow(
      /the longest prompt \(64 tokens\) fills the model's maxPositions 64: no room for a new token/,
    );
    // asked for nothing, it gets nothing
    expect(await collect(generate(model, prompt, { maxNewTokens: 0 }))).toEqual([]);
  });

  it("rotary and ALiBi models report their config's length (they said Infinity)", async () => {
    expect((await fixture("llama")).model.config.maxPositions).toBe(64);
    expect((await fixture("gpt_neox")).model.config.maxPositions).toBe(64);
    expect((await fixture("gptj")).model.config.maxPositions).toBe(64);
    expect((await fixture("mpt")).model.config.maxPositions).toBe(64);
    expect((await fixture("falcon")).model.config.maxPositions).toBe(2048);
    // BLOOM's config declares no length: ALiBi has none
    expect((await fixture("bloom")).model.config.maxPositions).toBe(Infinity);
  });

  it("going past it is an error unless extrapolate: true, for generate and forward", async () => {
    for (const name of ["llama", "mpt"]) {
      const { model } = await fixture(name);
      const prompt = Array.from({ length: 60 }, (_, i) => (i * 7) % 500);
      await expect(collect(generate(model, prompt, { maxNewTokens: 8 }))).rejects.toThrow(
        /prompt 0 \(60 tokens\) \+ maxNewTokens 8 = 68 exceeds the model's maxPositions 64 \(pass extrapolate: true/,
      );
      expect(await collect(generate(model, prompt, { maxNewTokens: 8, extrapolate: true }))).toHaveLength(8);
      const ids = tensor(
        Int32Array.from({ length: 70 }, (_, i) => i),
        { shape: [1, 70], dtype: "int32" },
      );
      expect(() => model.forward(ids)).toThrow(LayerArgumentError);
      expect(() => model.forward(ids)).toThrow(/forward: 70 positions \(0 cached \+ 70 new\) exceed the model's maxPositions 64/);
      model.forward(ids, { extrapolate: true }).dispose();
      ids.dispose();
    }
  });

  it("a learned position table cannot extrapolate, asked or not", async () => {
    const { model } = await fixture("gpt2");
    await expect(
      collect(
        generate(
          model,
          Array.from({ length: 60 }, (_, i) => i),
          { maxNewTokens: 8, extrapolate: true },
        ),
      ),
    ).rejects.toThrow(/position 64 is outside the 64 positions the table holds/);
  });
});
