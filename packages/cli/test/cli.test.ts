/**
 * The `llm` commands run in-process on a model folder made from the llama fixture (weights copied
 * as they are) with a 512-token BPE trained here and the ChatML template (scripts/fixture-folder.mjs),
 * each checked against the library calls it stands for.
 */
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { crossEntropy, LoraAdapters } from "@llm/layers";
import { loadModel, saveLoraAdapter } from "@llm/models/node";
import { collect } from "@llm/sampling";
import { noGrad, tensor } from "@llm/tensor";
import { loadPretrained } from "@llm/pretrained/node";
import { parseMultipleChoiceJsonl, scoreMultipleChoice } from "@llm/train";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { COMMANDS, main } from "../src/main.js";
// @ts-expect-error: a plain JavaScript script, typed by use
import { fixtureFolder } from "../scripts/fixture-folder.mjs";

let work: string;
let folder: string;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), "llm-cli-"));
  folder = fixtureFolder("llama", join(work, "llama")) as string;
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Runs `llm ...args` with stdin text; returns exit code, stdout and stderr. */
async function llm(args: string[], stdin = ""): Promise<{ code: number; out: string; err: string }> {
  const input = new PassThrough();
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  input.end(stdin);
  const code = await main(args, { stdin: input, stdout, stderr });
  return { code, out, err };
}

describe("llm", () => {
  it("--help on every command; an unknown command, option or missing source is one line", async () => {
    for (const name of Object.keys(COMMANDS)) {
      const { code, out } = await llm([name, "--help"]);
      expect(code, name).toBe(0);
      expect(out, name).toContain(`Usage: llm ${name}`);
    }
    expect((await llm(["--help"])).out).toContain("Commands:");
    for (const [args, message] of [
      [["frob"], 'llm: unknown command "frob"; expected one of generate, chat, tokenize, train, eval, convert, info (llm --help)\n'],
      [["info", "--bogus"], "llm info: Unknown option '--bogus' (llm info --help lists the options)\n"],
      [["generate"], "llm generate: expected a SOURCE: a model folder, a .gguf file, an http(s) URL or a Hub id\n"],
      [["convert", "x", "--out", "y", "--to", "zip"], 'llm convert: --to: expected gguf or safetensors, found "zip"\n'],
      [["convert", "x", "--out", "y.bin", "--to", "gguf"], 'llm convert: --out: a GGUF file\'s name ends in .gguf, found "y.bin"\n'],
      [
        ["convert", "x", "--out", "y", "--dtype", "q8_0"],
        "llm convert: --dtype: safetensors holds float weights (auto, float32, float16, bfloat16); q8_0 needs --to gguf\n",
      ],
      [
        ["convert", "x", "--out", "y.gguf", "--dtype", "iq2_xxs"],
        'llm convert: --dtype: expected one of auto, float32, float16, bfloat16, q8_0, q4_0, q5_0, q4_1, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, found "iq2_xxs"\n',
      ],
      [
        ["generate", "x/y", "-p", "hi", "--dtype", "fp8"],
        'llm generate: --dtype: expected one of auto, float32, float16, bfloat16, q8_0, q4_0, q5_0, q4_1, q5_1, q2_k, q3_k, q4_k, q5_k, q6_k, iq4_nl, iq4_xs, q3_k_s, q3_k_m, q3_k_l, q4_k_s, q4_k_m, q5_k_s, q5_k_m, found "fp8"\n',
      ],
      [["chat", "x/y", "--threads", "0"], 'llm chat: --threads: expected a positive integer, found "0"\n'],
      [["eval", "x/y", "--text", "/dev/null", "--threads", "two"], 'llm eval: --threads: expected a positive integer, found "two"\n'],
      [["info", "x/y", "--dtype", "q8_0"], "llm info: Unknown option '--dtype' (llm info --help lists the options)\n"],
    ] as const) {
      const { code, err, out } = await llm([...args]);
      expect(code).not.toBe(0);
      expect(err).toBe(message);
      expect(out).toBe("");
    }
    const missing = await llm(["info", join(work, "nothing-here", "x")]);
    expect(missing.code).toBe(1);
    expect(missing.err.split("\n").filter(Boolean)).toHaveLength(1);
    expect(missing.err).not.toMatch(/\n\s+at /);
  });

  it("info: architecture, parameters (as the loaded model counts them), files, tokenizer, generation", async () => {
    const { code, out } = await llm(["info", folder, "--json"]);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    const model = await loadModel(folder);
    expect(report.weights.parameters).toBe(model.parameters().reduce((n, p) => n + p.size, 0));
    expect(report.architecture).toMatchObject({ modelType: "llama", layers: 2, width: 64, heads: 4, kvHeads: 2, vocabSize: 512 });
    expect(report.tokenizer).toMatchObject({ vocabSize: 512, chatTemplates: ["default"] });
    expect(report.generation).toMatchObject({ eosTokenIds: [2], doSample: false });
    expect(Object.keys(report.files).sort()).toEqual(readdirSync(folder).sort());
    const text = await llm(["info", folder]);
    expect(text.out).toContain("architecture  llama (LlamaForCausalLM): 2 layers, width 64, 4 heads (2 key/value), vocabulary 512");
    const file = await llm(["info", join(folder, "model.safetensors")]);
    expect(file.out).toContain("model.embed_tokens.weight  F32 [512, 64]");
  });

  it("generate streams what Pretrained.generate gives", async () => {
    const p = await loadPretrained(folder);
    const expected = (await collect(p.generate("The jury said", { maxNewTokens: 10 }))).join("");
    const { code, out } = await llm(["generate", folder, "-p", "The jury said", "-n", "10", "-q"]);
    expect(code).toBe(0);
    expect(out).toBe(`${expected}\n`);
    // the prompt from standard input
    expect((await llm(["generate", folder, "-n", "10", "-q"], "The jury said\n")).out).toBe(`${expected}\n`);
    p.dispose();
  });

  it("generate --kv-cache float16 streams what Pretrained.generate gives with that cache; a dtype it cannot keep is one line", async () => {
    const p = await loadPretrained(folder);
    const expected = (await collect(p.generate("The jury said", { maxNewTokens: 10, cacheDType: "float16" }))).join("");
    const { code, out } = await llm(["generate", folder, "-p", "The jury said", "-n", "10", "-q", "--kv-cache", "float16"]);
    expect(code).toBe(0);
    expect(out).toBe(`${expected}\n`);
    const bad = await llm(["generate", folder, "-p", "x", "-q", "--kv-cache", "int8"]);
    expect(bad.code).not.toBe(0);
    expect(bad.err.trim()).toContain('--kv-cache: expected one of float32, float16, bfloat16, found "int8"');
    p.dispose();
  });

  it("chat: each line of standard input is a turn; the replies are what a ChatSession gives", async () => {
    const p = await loadPretrained(folder);
    const session = p.chat({ system: "Be brief.", maxNewTokens: 6 });
    const first = await session.reply("Hello there");
    const second = await session.reply("And then?");
    const { code, out } = await llm(["chat", folder, "-s", "Be brief.", "-n", "6", "-q"], "Hello there\n\nAnd then?\n/exit\nnot read\n");
    expect(code).toBe(0);
    expect(out).toBe(`${first}\n${second}\n`);
    p.dispose();
  });

  it("tokenize and --decode", async () => {
    const p = await loadPretrained(folder);
    const ids = p.encode("The jury said it did find");
    const { out } = await llm(["tokenize", folder, "--text", "The jury said it did find"]);
    expect(JSON.parse(out)).toEqual(ids);
    expect((await llm(["tokenize", folder, "--decode", ids.join(",")])).out).toBe("The jury said it did find\n");
    expect((await llm(["tokenize", join(folder, "tokenizer.json"), "--text", "The jury"])).out).toBe(
      `${JSON.stringify(p.encode("The jury"))}\n`,
    );
    p.dispose();
  });

  it("eval: one window's loss is the mean cross-entropy of a forward over the text", async () => {
    const text = "The jury said it did find that the city had been taken by surprise, and the mayor agreed.";
    const path = join(work, "text.txt");
    writeFileSync(path, text);
    const { code, out } = await llm(["eval", folder, "--text", path, "--json", "-q"]);
    expect(code).toBe(0);
    const figures = JSON.parse(out);
    const p = await loadPretrained(folder);
    const ids = p.encode(text);
    const loss = noGrad(() =>
      crossEntropy(p.model.forward(tensor([ids.slice(0, -1)], { dtype: "int32" })), tensor([ids.slice(1)], { dtype: "int32" })),
    );
    expect(figures.scored).toBe(ids.length - 1);
    expect(figures.lossNatsPerToken).toBeCloseTo(await loss.item(), 5);
    expect(figures.perplexity).toBeCloseTo(Math.exp(await loss.item()), 3);
    // overlapping windows score each token once, with more context
    const strided = JSON.parse((await llm(["eval", folder, "--text", path, "--json", "-q", "--context", "8", "--stride", "4"])).out);
    expect(strided.scored).toBe(ids.length - 1);
    p.dispose();
  });

  it("eval --task: acc and acc_norm as scoreMultipleChoice computes them; --adapter puts a LoRA adapter on the model", async () => {
    const questions = [
      { question: "The jury said it did", choices: ["find", "banana", "the"], answer: 0 },
      { query: "The city had been taken by", endings: ["surprise", "of", "mayor"], label: 0 },
      { ctx: "The mayor", options: ["agreed.", "jury jury", "x"], gold: 1 },
      { question: "It was", choices: ["a good day", "the the"], answerKey: "B" },
    ];
    const path = join(work, "task.jsonl");
    writeFileSync(path, questions.map((q) => JSON.stringify(q)).join("\n"));
    const run = async (...extra: string[]) => {
      const { code, out, err } = await llm(["eval", folder, "--task", path, "--json", "-q", ...extra]);
      expect(code, err).toBe(0);
      return JSON.parse(out).multipleChoice;
    };
    const p = await loadPretrained(folder);
    const docs = parseMultipleChoiceJsonl(questions.map((q) => JSON.stringify(q)).join("\n"));
    const want = await scoreMultipleChoice(p.model, p.tokenizer, docs, { prefixId: p.endOfTurnIds()[0] });
    const got = await run();
    expect(got.n).toBe(4);
    expect(got.acc).toBe(want.acc);
    expect(got.accNorm).toBe(want.accNorm);
    expect(got.accStderr).toBeCloseTo(want.accStderr, 12);
    expect(got.chance).toBeCloseTo((1 / 3) * 0.75 + 0.5 * 0.25, 12);
    expect((await run("--limit", "2")).n).toBe(2);
    // An adapter whose B is nonzero changes the log-likelihoods; the CLI scores with it.
    const lora = LoraAdapters.of(p.model).add(
      "default",
      { r: 2, targetModules: ["q_proj", "v_proj"], initLoraWeights: false },
      { seed: 3 },
    );
    const adapterDir = join(work, "adapter");
    await saveLoraAdapter(p.model, adapterDir);
    p.model.eval();
    const withAdapter = await scoreMultipleChoice(p.model, p.tokenizer, docs, { prefixId: p.endOfTurnIds()[0] });
    expect(withAdapter.scores[0]!.logLikelihoods).not.toEqual(want.scores[0]!.logLikelihoods);
    lora.unload();
    const adapted = await run("--adapter", adapterDir);
    expect(adapted.acc).toBe(withAdapter.acc);
    expect(adapted.accNorm).toBe(withAdapter.accNorm);
    p.dispose();
    const bad = await llm(["eval", folder, "-q"]);
    expect(bad.code).not.toBe(0);
    expect(bad.err).toContain("expected --text FILE (perplexity), --task FILE.jsonl (multiple choice), or both");
  });

  it("convert re-saves as shards with their index and carries the tokenizer files over", async () => {
    const out = join(work, "converted");
    const { code } = await llm(["convert", folder, "--out", out, "--max-shard-size", "100KB", "-q"]);
    expect(code).toBe(0);
    const files = readdirSync(out).sort();
    expect(files).toContain("model.safetensors.index.json");
    expect(files.filter((f) => f.startsWith("model-")).length).toBeGreaterThan(2);
    expect(files).toEqual(expect.arrayContaining(["tokenizer.json", "tokenizer_config.json", "generation_config.json", "config.json"]));
    const [a, b] = [await loadModel(folder), await loadModel(out)];
    const named = new Map(b.namedParameters());
    for (const [name, t] of a.namedParameters())
      expect(Array.from(await named.get(name)!.data()), name).toEqual(Array.from(await t.data()));
  });

  it("train: a few steps on a text file save a folder that generate reads", async () => {
    const path = join(work, "corpus.txt");
    writeFileSync(path, Array.from({ length: 60 }, (_, i) => `Line ${i}: the cat sat on the mat and the dog ran after it.`).join("\n"));
    const out = join(work, "trained");
    const { code, out: stdout } = await llm([
      "train",
      "--text",
      path,
      "--out",
      out,
      "--steps",
      "3",
      "--width",
      "16",
      "--layers",
      "1",
      "--context",
      "16",
      "--vocab",
      "300",
      "--batch",
      "2",
    ]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout.trim().split("\n").at(-1)!);
    expect(result.steps).toBe(3);
    expect(Number.isFinite(result.heldOutLoss)).toBe(true);
    expect(readdirSync(out)).toEqual(
      expect.arrayContaining([
        "config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "generation_config.json",
        "metrics.jsonl",
      ]),
    );
    expect((await llm(["generate", out, "-p", "the cat", "-n", "5", "-q"])).code).toBe(0);
  });
});
