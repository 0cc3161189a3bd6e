import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { collect, fillBlanks, generate, generateBatch, glmTokensFromConfig } from "../src/index.js";
import { ARCHITECTURES, FIXTURES, fixture, ids } from "./fixtures.js";

describe("greedy generation reproduces the reference gen_ids", () => {
  for (const name of ARCHITECTURES.filter((n) => n !== "glm")) {
    it(name, async () => {
      const { model, reference } = await fixture(name);
      const out = await collect(generate(model, await ids(reference.gen_prompt!), { maxNewTokens: 8 }));
      expect(out).toEqual(await ids(reference.gen_ids!));
    });
  }

  it("glm, through blank infilling of gen_partA", async () => {
    const { model, reference } = await fixture("glm");
    const config = JSON.parse(readFileSync(`${FIXTURES}glm/config.json`, "utf8")) as Record<string, unknown>;
    const tokens = glmTokensFromConfig(config);
    const partA = await ids(reference.gen_partA!);
    const filled = await fillBlanks(model, partA, { tokens, maxSpanTokens: 8 });
    const expected = (await ids(reference.gen_ids!)).filter((_, i, all) => !all.slice(0, i + 1).includes(tokens.eop));
    expect(filled.spans).toEqual([expected]);
    expect(filled.ids).toEqual([...partA.slice(0, 2), ...expected, ...partA.slice(3)]);
  });

  it("glm: minSpanTokens keeps [eop] away until a span is that long", async () => {
    const { model, reference } = await fixture("glm");
    const config = JSON.parse(readFileSync(`${FIXTURES}glm/config.json`, "utf8")) as Record<string, unknown>;
    const tokens = glmTokensFromConfig(config);
    const partA = await ids(reference.gen_partA!);
    // Make [eop] the greedy choice everywhere, so only minSpanTokens can lengthen a span.
    const eopFirst = (row: Float32Array) => row.map((x, i) => (i === tokens.eop ? 1e9 : x));
    expect((await fillBlanks(model, partA, { tokens, processors: [eopFirst] })).spans).toEqual([[]]);
    const spans = (await fillBlanks(model, partA, { tokens, processors: [eopFirst], minSpanTokens: 3 })).spans;
    expect(spans[0]).toHaveLength(3);
  });
});

describe("batches, stop tokens, seeds", () => {
  // Learned positions, ALiBi, rotary, sliding windows (mistral, gemma2: 12 positions past a window of 5): padding and positions must be right for each.
  for (const name of ["gpt2", "bloom", "llama", "opt", "mistral", "gemma2", "qwen2"]) {
    it(`${name}: a batch of prompts of different lengths gives each prompt's own continuation`, async () => {
      const { model } = await fixture(name);
      const prompts = [
        [5, 17, 300, 42, 9, 77],
        [11, 250],
        [400, 3, 3, 8],
      ];
      const alone = await Promise.all(prompts.map((p) => collect(generate(model, p, { maxNewTokens: 6 }))));
      const rows: number[][] = prompts.map(() => []);
      for await (const step of generateBatch(model, prompts, { maxNewTokens: 6, padId: 0 })) {
        step.forEach((id, b) => id !== null && rows[b]!.push(id));
      }
      expect(rows).toEqual(alone);
    });
  }

  it("stops at a stop token without yielding it, per row", async () => {
    const { model, reference } = await fixture("gpt2");
    const prompt = await ids(reference.gen_prompt!);
    const full = await ids(reference.gen_ids!);
    const stop = full[3]!;
    const cut = full.indexOf(stop);
    expect(await collect(generate(model, prompt, { maxNewTokens: 8, stopTokens: [stop] }))).toEqual(full.slice(0, cut));
  });

  for (const name of ["gpt2", "llama"]) {
    it(`${name}: continuing from a cache gives the reference tokens, feeds only what the cache lacks, and leaves the cache filled`, async () => {
      const { model, reference } = await fixture(name);
      const prompt = await ids(reference.gen_prompt!);
      const expected = await ids(reference.gen_ids!);
      const cache = model.createCache();
      // the first three prompt ids go in by themselves (a chat's earlier turn), then generation continues
      const first = await collect(generate(model, prompt.slice(0, 4), { maxNewTokens: 1, cache }));
      expect(cache.length).toBe(4);
      expect(first).toHaveLength(1);
      cache.truncate!(3);
      const fed: number[] = [];
      const spy = {
        ...model,
        config: model.config,
        createCache: () => model.createCache(),
        forward: (x: Parameters<typeof model.forward>[0], o?: Parameters<typeof model.forward>[1]) => {
          fed.push(x.shape[1]!);
          return model.forward(x, o);
        },
      };
      expect(await collect(generate(spy, prompt, { maxNewTokens: 8, cache }))).toEqual(expected);
      // the prompt's uncached ids in one call, then one id per step; the last id is never fed
      expect(fed).toEqual([prompt.length - 3, 1, 1, 1, 1, 1, 1, 1]);
      expect(cache.length).toBe(prompt.length + expected.length - 1);
      cache.dispose();
    });
  }

  it("a cache continues one prompt that is longer than what it holds", async () => {
    const { model } = await fixture("gpt2");
    const cache = model.createCache();
    await collect(generate(model, [1, 2, 3], { maxNewTokens: 2, cache }));
    await expect(collect(generate(model, [1, 2, 3, 4], { cache }))).rejects.toThrow(
      "generate: the cache holds 4 positions; expected fewer than the prompt's 4 ids (at least one id to feed)",
    );
    await expect(collect(generateBatch(model, [[1], [2]], { cache }))).rejects.toThrow(/a cache continues one prompt, got a batch of 2/);
    cache.dispose();
  });

  it("cacheDType: the cache generate makes keeps float16, and decodes as one made with createCache({ dtype })", async () => {
    const { model, reference } = await fixture("llama");
    const prompt = await ids(reference.gen_prompt!);
    const made: string[] = [];
    const spy = {
      ...model,
      config: model.config,
      forward: model.forward.bind(model),
      createCache: (options?: { dtype?: "float32" | "float16" | "bfloat16" }) => {
        made.push(options?.dtype ?? "float32");
        return model.createCache(options);
      },
    };
    const half = await collect(generate(spy, prompt, { maxNewTokens: 8, cacheDType: "float16" }));
    expect(made).toEqual(["float16"]);
    const cache = model.createCache({ dtype: "float16" });
    expect(await collect(generate(model, prompt, { maxNewTokens: 8, cache }))).toEqual(half);
    // with a cache given, its own dtype rules: asking for another is an error, as is an unknown dtype
    await expect(collect(generate(model, [1, 2, 3], { cache: model.createCache(), cacheDType: "float16" }))).rejects.toThrow(
      /cacheDType is for the cache generate makes/,
    );
    await expect(collect(generate(model, [1, 2, 3], { cacheDType: "int8" as never }))).rejects.toThrow(/cacheDType/);
    cache.dispose();
  });

  it("samples repeatably with a seed", async () => {
    const { model } = await fixture("llama");
    const run = (seed: number) => collect(generate(model, [1, 2, 3], { maxNewTokens: 12, temperature: 1.5, topK: 50, topP: 0.95, seed }));
    const a = await run(1);
    expect(await run(1)).toEqual(a);
    expect(await run(2)).not.toEqual(a);
  });

  it("names prompts that do not fit", async () => {
    const { model } = await fixture("gpt2");
    await expect(collect(generate(model, [1, 2, 9999]))).rejects.toThrow(/prompt 0 holds id 9999, expected integers in \[0, 512\)/);
    await expect(collect(generateBatch(model, [[1], []]))).rejects.toThrow(/prompt 1 is empty/);
    await expect(collect(generate(model, [1, 2], { maxNewTokens: 63 }))).rejects.toThrow(
      /prompt 0 \(2 tokens\) \+ maxNewTokens 63 = 65 exceeds the model's maxPositions 64/,
    );
    // Without maxNewTokens, generation stops where the positions run out.
    expect(
      (
        await collect(
          generate(
            model,
            Array.from({ length: 60 }, (_, i) => i),
          ),
        )
      ).length,
    ).toBe(4);
  });
});
