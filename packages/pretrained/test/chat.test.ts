/**
 * The loaded model as a user drives it: generate with generation_config.json's stops and
 * defaults, the chat template, and chat() keeping the KV cache across turns (the second turn's
 * logits must equal a fresh forward over the whole conversation).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { collect, generate } from "@llm/sampling";
import { noGrad, tensor } from "@llm/tensor";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseGenerationConfig, resolveGeneration, type Pretrained } from "../src/index.js";
import { loadPretrained } from "../src/node.js";
import { chatFolder } from "./helpers/folders.js";

let work: string;
let p: Pretrained;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "llm-pretrained-chat-"));
  p = await loadPretrained(await chatFolder(join(work, "chat")));
});
afterAll(() => {
  p?.dispose();
  rmSync(work, { recursive: true, force: true });
});

/** The last position's logits of a fresh forward over ids (no cache). */
async function lastLogits(ids: number[]): Promise<Float32Array> {
  const logits = noGrad(() => p.model.forward(tensor([ids], { dtype: "int32" })));
  const data = (await logits.data()) as Float32Array;
  const vocab = logits.shape[2]!;
  logits.dispose();
  return data.slice((ids.length - 1) * vocab, ids.length * vocab);
}

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Records the sequence length of every forward call on the model. */
function countFeeds(): { fed: number[]; restore(): void } {
  const fed: number[] = [];
  const forward = p.model.forward.bind(p.model);
  p.model.forward = (ids, options) => {
    fed.push(ids.shape[1]!);
    return forward(ids, options);
  };
  return { fed, restore: () => (p.model.forward = forward) };
}

describe("generate", () => {
  it("streams greedy text that stops at generation_config's eos, as @llm/sampling's generate with those stops", async () => {
    const prompt = "The jury said";
    const ids = p.encode(prompt);
    const expected = await collect(generate(p.model, ids, { maxNewTokens: 30, stopTokens: [2] }));
    const text = (await collect(p.generate(prompt, { maxNewTokens: 30 }))).join("");
    expect(text).toBe(p.tokenizer.decode([...ids, ...expected]).slice(p.tokenizer.decode(ids).length));
    // with the first generated id as a stop token, nothing is generated
    expect((await collect(p.generate(prompt, { maxNewTokens: 30, stopTokens: [expected[0]!] }))).join("")).toBe("");
  });

  it("samples repeatably with a seed when asked to, and greedily by default (do_sample unset)", async () => {
    const a = (await collect(p.generate("In the", { maxNewTokens: 12, temperature: 1, seed: 3 }))).join("");
    expect((await collect(p.generate("In the", { maxNewTokens: 12, temperature: 1, seed: 3 }))).join("")).toBe(a);
    const greedy = (await collect(p.generate("In the", { maxNewTokens: 12 }))).join("");
    expect((await collect(p.generate("In the", { maxNewTokens: 12, temperature: 0 }))).join("")).toBe(greedy);
  });

  it("an abort signal stops a generation", async () => {
    const controller = new AbortController();
    const pieces: string[] = [];
    const run = async () => {
      // eos is kept from being chosen, so only the signal can end this early
      const noEos = (row: Float32Array) => row.map((x, i) => (i === 2 ? Number.NEGATIVE_INFINITY : x));
      for await (const piece of p.generate("The", { maxNewTokens: 40, processors: [noEos], signal: controller.signal })) {
        pieces.push(piece);
        controller.abort();
      }
    };
    await expect(run()).rejects.toThrow(/aborted/);
    expect(pieces).toHaveLength(1);
  });
});

describe("generation_config.json", () => {
  const model = { vocabSize: 512, maxPositions: 64 };
  it("do_sample false is greedy whatever its temperature; its eos ids (inside the vocabulary) stop", () => {
    const config = parseGenerationConfig({ do_sample: false, temperature: 0.6, eos_token_id: [2, 50256], max_new_tokens: 9 }, {}, "m");
    expect(resolveGeneration(config, {}, model, 10)).toEqual({
      maxNewTokens: 9,
      stopTokens: [2],
      stopStrings: [],
      processors: undefined,
      seed: undefined,
      rng: undefined,
    });
  });

  it("do_sample true takes its temperature, top_p, top_k, else transformers' defaults (top_k 50); the caller's options win", () => {
    const config = parseGenerationConfig(
      { do_sample: true, temperature: 0.7, top_p: 0.8, repetition_penalty: 1.1, eos_token_id: 2 },
      {},
      "m",
    );
    expect(resolveGeneration(config, {}, model, 10)).toMatchObject({ temperature: 0.7, topP: 0.8, topK: 50, repetitionPenalty: 1.1 });
    expect(resolveGeneration(config, { temperature: 0.2, topK: 0, topP: 1 }, model, 10)).toMatchObject({ temperature: 0.2 });
    expect(resolveGeneration(config, { temperature: 0.2, topK: 0, topP: 1 }, model, 10)).not.toHaveProperty("topK");
    expect(resolveGeneration(config, { doSample: false }, model, 10)).not.toHaveProperty("temperature");
  });

  it("without a file, the ids of config.json; max_length counts the prompt; never past the model's positions", () => {
    const config = parseGenerationConfig(null, { eos_token_id: 7, bos_token_id: 1 }, "m");
    expect(config).toMatchObject({ eosTokenIds: [7], bosTokenId: 1, fromModelConfig: true });
    expect(resolveGeneration(config, {}, model, 10).maxNewTokens).toBe(54);
    const withLength = parseGenerationConfig({ max_length: 30 }, {}, "m");
    expect(resolveGeneration(withLength, {}, model, 10).maxNewTokens).toBe(20);
    expect(() => parseGenerationConfig({ eos_token_id: "x" }, {}, "m")).toThrow(
      'm/generation_config.json: eos_token_id[0]: expected a token id, found "x"',
    );
  });

  it("the loaded fixture's generation_config.json", () => {
    expect(p.generationConfig).toMatchObject({ eosTokenIds: [2], bosTokenId: 1, fromModelConfig: false });
  });
});

describe("chat", () => {
  it("applyChatTemplate renders Qwen3's template; tokenizeChat encodes it without adding special tokens", () => {
    const messages = [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hi" },
    ];
    const text = p.applyChatTemplate(messages, { addGenerationPrompt: true });
    expect(text).toBe("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n");
    const ids = p.tokenizeChat(messages, { addGenerationPrompt: true });
    expect(ids[0]).toBe(p.tokenizer.tokenToId("<|im_start|>"));
    expect(p.tokenizer.decode(ids)).toBe(text);
  });

  it("a second turn's logits equal a fresh forward over the whole conversation, feeding only what the cache lacks", async () => {
    const chat = p.chat({ system: "Be brief.", maxNewTokens: 6 });
    const first = await chat.reply("The jury said");
    expect(chat.messages.map((m) => m.role)).toEqual(["system", "user", "assistant"]);
    expect(chat.messages[2]!.content).toBe(first);
    const held = chat.cachedLength;
    expect(held).toBeGreaterThan(10);

    let logits: Float32Array | null = null;
    const capture = (row: Float32Array) => {
      logits ??= Float32Array.from(row);
      return row;
    };
    const counter = countFeeds();
    try {
      await chat.reply("In the morning", { processors: [capture], maxNewTokens: 3 });
    } finally {
      counter.restore();
    }
    // the whole conversation up to the second turn's generation prompt, computed afresh
    const conversation = chat.messages.slice(0, 4);
    const ids = p.tokenizeChat(conversation, { addGenerationPrompt: true });
    const fresh = await lastLogits(ids);
    expect(maxDiff(logits!, fresh)).toBeLessThan(1e-4);
    // the first forward of the turn fed at most what follows the first turn's prompt (the reply's
    // ids can re-tokenize differently from the sampled ones, so a little of it may be fed again)
    const firstPrompt = p.tokenizeChat(chat.messages.slice(0, 2), { addGenerationPrompt: true });
    expect(counter.fed[0]).toBeLessThanOrEqual(ids.length - firstPrompt.length);
    expect(counter.fed[0]).toBeLessThan(ids.length - held + 6);
    expect(counter.fed.slice(1).every((n) => n === 1)).toBe(true);
    chat.dispose();
  });

  it("cacheDType float16: the session's cache keeps float16 across turns, each turn as @llm/sampling generates over such a cache", async () => {
    const dtypes: string[] = [];
    const createCache = p.model.createCache.bind(p.model);
    p.model.createCache = (options) => {
      dtypes.push(options?.dtype ?? "float32");
      return createCache(options);
    };
    try {
      const chat = p.chat({ system: "Be brief.", maxNewTokens: 6, cacheDType: "float16" });
      const first = await chat.reply("The jury said");
      await chat.reply("In the morning");
      expect(dtypes).toEqual(["float16"]);
      const ids = p.tokenizeChat(chat.messages.slice(0, 2), { addGenerationPrompt: true });
      const cache = createCache({ dtype: "float16" });
      const expected = await collect(generate(p.model, ids, { maxNewTokens: 6, stopTokens: [2], cache }));
      // (the stream holds back a last character whose bytes are incomplete)
      const whole = p.tokenizer
        .decode([...ids, ...expected], { skipSpecialTokens: true })
        .slice(p.tokenizer.decode(ids, { skipSpecialTokens: true }).length);
      expect(first.length).toBeGreaterThan(0);
      expect(whole.startsWith(first)).toBe(true);
      cache.dispose();
      await expect(chat.reply("Then?", { cacheDType: "float32" })).rejects.toThrow(/cacheDType is the session's \(float16/);
      chat.dispose();
      // Pretrained.generate makes its own cache of that dtype
      dtypes.length = 0;
      await collect(p.generate("The jury said", { maxNewTokens: 3, cacheDType: "bfloat16" }));
      expect(dtypes).toEqual(["bfloat16"]);
    } finally {
      p.model.createCache = createCache;
    }
  });

  it("the conversation keeps every turn; a reply stopped early is kept as it was shown; reset() starts over", async () => {
    const chat = p.chat({ maxNewTokens: 8 });
    let shown = "";
    for await (const piece of chat.send("Hello")) {
      shown += piece;
      break;
    }
    expect(chat.messages).toEqual([
      { role: "user", content: "Hello" },
      { role: "assistant", content: shown },
    ]);
    const second = await chat.reply("Again");
    expect(chat.messages).toHaveLength(4);
    expect(chat.messages[3]).toEqual({ role: "assistant", content: second });
    chat.reset();
    expect(chat.messages).toEqual([]);
    expect(chat.cachedLength).toBe(0);
  });

  it("a template that renders earlier turns differently (Qwen3 drops old <think> blocks) cuts the cache back and stays exact", async () => {
    const chat = p.chat({ maxNewTokens: 4 });
    chat.messages.push({ role: "user", content: "Think" }, { role: "assistant", content: "<think>\nhm\n</think>\n\nok" });
    await chat.reply("More");
    let logits: Float32Array | null = null;
    await chat.reply("Again", {
      processors: [
        (row) => {
          logits ??= Float32Array.from(row);
          return row;
        },
      ],
    });
    const ids = p.tokenizeChat(chat.messages.slice(0, -1), { addGenerationPrompt: true });
    expect(maxDiff(logits!, await lastLogits(ids))).toBeLessThan(1e-4);
    chat.dispose();
  });

  it("says so when the model has no chat template", async () => {
    const dir = await chatFolder(join(work, "no-template"));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ eos_token: "<|im_end|>" }));
    const plain = await loadPretrained(dir);
    expect(() => plain.applyChatTemplate([{ role: "user", content: "x" }])).toThrow(
      /no chat template \(tokenizer_config\.json has no chat_template/,
    );
    plain.dispose();
  });

  it("chat_template.jinja wins over tokenizer_config.json's template, as in transformers", async () => {
    const dir = await chatFolder(join(work, "jinja"));
    writeFileSync(join(dir, "chat_template.jinja"), "{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}");
    const withFile = await loadPretrained(dir);
    expect(withFile.applyChatTemplate([{ role: "user", content: "hi" }])).toBe("[user] hi\n");
    withFile.dispose();
  });

  it("add_bos_token in tokenizer_config.json puts bos before encoded text, as transformers 5 does", async () => {
    const dir = await chatFolder(join(work, "bos"));
    writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify({ bos_token: "<|endoftext|>", add_bos_token: true }));
    const withBos = await loadPretrained(dir);
    const bos = withBos.tokenizer.tokenToId("<|endoftext|>")!;
    expect(withBos.encode("Hi there")).toEqual([bos, ...p.encode("Hi there")]);
    expect(withBos.encode("Hi there", { addSpecialTokens: false })).toEqual(p.encode("Hi there"));
    withBos.dispose();
  });
});
