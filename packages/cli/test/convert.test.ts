/**
 * `llm convert` both ways between a safetensors folder (the llama fixture with a tokenizer trained
 * here: scripts/fixture-folder.mjs) and GGUF, in each dtype: the logits of what it writes against
 * the folder's (float32 exactly; half and quantized types equal to loadModel with that dtype, and
 * within the models tests' bounds of the transformers reference), the tokenizer and chat template
 * carried through; `--dtype` and `--threads` on generate; `llm info` on a GGUF file.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PassThrough } from "node:stream";
import { loadModel } from "@llm/models/node";
import { collect } from "@llm/sampling";
import { noGrad, type Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { loadPretrained } from "@llm/pretrained/node";
import type { Model } from "@llm/models";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { main } from "../src/main.js";
// @ts-expect-error: a plain JavaScript script, typed by use
import { fixtureFolder } from "../scripts/fixture-folder.mjs";

const FIXTURE = new URL("../../../fixtures/models/llama/", import.meta.url).pathname;

let work: string;
let folder: string;
let reference: Record<string, Tensor>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "llm-cli-convert-"));
  folder = fixtureFolder("llama", join(work, "llama")) as string;
  reference = await readSafetensorsFile(join(FIXTURE, "reference.safetensors"));
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function llm(args: string[]): Promise<{ code: number; out: string; err: string }> {
  const [stdin, stdout, stderr] = [new PassThrough(), new PassThrough(), new PassThrough()];
  let out = "";
  let err = "";
  stdout.on("data", (d) => (out += d));
  stderr.on("data", (d) => (err += d));
  stdin.end("");
  const code = await main(args, { stdin, stdout, stderr });
  return { code, out, err };
}

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [a.dataSync(), b.dataSync()];
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}
const logitsOf = (model: Model): Tensor => noGrad(() => model.forward(reference.input_ids!));
const dtypesOf = (model: Model) => new Set(model.parameters().map((p) => p.dtype));

/** What converting costs against the float32 reference (packages/models/test: weight_dtypes and quantized). */
const BOUNDS: Record<string, number> = { float32: 1e-4, float16: 1e-2, bfloat16: 8e-2, q8_0: 0.3, q4_0: 3.5 };

describe("llm convert", () => {
  it("safetensors -> GGUF -> safetensors in float32: the same weights, logits, tokenizer and chat template", async () => {
    const gguf = join(work, "llama-f32.gguf");
    const first = await llm(["convert", folder, "--out", gguf, "-q"]);
    expect(first).toMatchObject({ code: 0, err: "" });
    expect(first.out).toMatch(/^wrote .*llama-f32\.gguf: [\d,]+ parameters \(float32 100%\), with the tokenizer and chat template\n$/);
    expect(readdirSync(work).filter((f) => f.includes(".partial"))).toEqual([]);
    const back = join(work, "llama-back");
    expect((await llm(["convert", gguf, "--out", back, "-q"])).code).toBe(0);
    expect(readdirSync(back).sort()).toEqual([
      "config.json",
      "generation_config.json",
      "model.safetensors",
      "tokenizer.json",
      "tokenizer_config.json",
    ]);
    const [original, roundTripped] = [await loadModel(folder), await loadModel(back)];
    const named = new Map(roundTripped.namedParameters());
    for (const [name, t] of original.namedParameters())
      expect(Array.from(await named.get(name)!.data()), name).toEqual(Array.from(await t.data()));
    expect(maxAbsDiff(logitsOf(roundTripped), logitsOf(original))).toBe(0);
    // the tokenizer and template, through GGUF metadata and back to files
    const [a, b, c] = [await loadPretrained(folder), await loadPretrained(back), await loadPretrained(gguf)];
    const text = "The jury said <|im_start|>it did<|im_end|> not";
    const conversation = [{ role: "user", content: "Hello there" }];
    for (const p of [b, c]) {
      expect(p.encode(text)).toEqual(a.encode(text));
      expect(p.applyChatTemplate(conversation, { addGenerationPrompt: true })).toBe(
        a.applyChatTemplate(conversation, { addGenerationPrompt: true }),
      );
      expect(p.endOfTurnIds()).toEqual(a.endOfTurnIds());
      expect((await collect(p.generate("The jury said", { maxNewTokens: 8 }))).join("")).toBe(
        (await collect(a.generate("The jury said", { maxNewTokens: 8 }))).join(""),
      );
    }
    const config = JSON.parse(readFileSync(join(back, "tokenizer_config.json"), "utf8"));
    expect(config).toMatchObject({ eos_token: "<|im_end|>", pad_token: "<|endoftext|>", add_bos_token: false });
    for (const m of [original, roundTripped, a, b, c]) m.dispose();
  });

  for (const dtype of ["float16", "bfloat16", "q8_0", "q4_0"] as const) {
    it(`--dtype ${dtype} to GGUF: the weights loadModel makes in ${dtype}, within its bound of the reference; and back to safetensors`, async () => {
      const gguf = join(work, `llama-${dtype}.gguf`);
      const { code, out } = await llm(["convert", folder, "--out", gguf, "--dtype", dtype, "-q"]);
      expect(code).toBe(0);
      expect(out).toContain(`${dtype} `);
      const p = await loadPretrained(gguf);
      const direct = await loadModel(folder, { dtype });
      expect(dtypesOf(p.model)).toEqual(dtypesOf(direct));
      const logits = logitsOf(p.model);
      expect(maxAbsDiff(logits, logitsOf(direct))).toBe(0);
      const error = maxAbsDiff(logits, reference.logits!);
      console.log(`llm convert --dtype ${dtype}: logits vs reference ${error.toExponential(2)}`);
      expect(error).toBeLessThanOrEqual(BOUNDS[dtype]!);
      // back to a folder: halves stay half, blocks are widened to float32 (safetensors holds float weights)
      const back = join(work, `llama-${dtype}-back`);
      expect((await llm(["convert", gguf, "--out", back, "-q"])).code).toBe(0);
      const stored = await readSafetensorsFile(join(back, "model.safetensors"));
      const kinds = new Set(Object.values(stored).map((t) => t.dtype));
      expect(kinds).toEqual(new Set(dtype === "q8_0" || dtype === "q4_0" ? ["float32"] : ["float32", dtype]));
      const reloaded = await loadModel(back);
      expect(maxAbsDiff(logitsOf(reloaded), logits)).toBeLessThanOrEqual(1e-4);
      for (const m of [p, direct, reloaded]) m.dispose();
    });
  }

  it("a quantized GGUF file converted to another block type is refused, naming the tensor; --dtype float16 to a folder works", async () => {
    const gguf = join(work, "llama-q8_0.gguf");
    if (!readdirSync(work).includes("llama-q8_0.gguf"))
      expect((await llm(["convert", folder, "--out", gguf, "--dtype", "q8_0", "-q"])).code).toBe(0);
    const { code, err } = await llm(["convert", gguf, "--out", join(work, "q4.gguf"), "--dtype", "q4_0", "-q"]);
    expect(code).toBe(1);
    expect(err).toMatch(
      /^llm convert: .*llama-q8_0\.gguf: tensor "token_embd\.weight" is stored q8_0; dtype "q4_0" would quantize it again as q4_0/,
    );
    expect(err.trim().split("\n")).toHaveLength(1);
    const half = join(work, "from-q8-half");
    expect((await llm(["convert", gguf, "--out", half, "--dtype", "float16", "-q"])).code).toBe(0);
    const stored = await readSafetensorsFile(join(half, "model.safetensors"));
    expect(stored["model.layers.0.mlp.up_proj.weight"]!.dtype).toBe("float16");
  });

  it("generate --dtype q8_0 --threads 2 streams what Pretrained.generate gives with those options", async () => {
    const p = await loadPretrained(folder, { dtype: "q8_0", threads: 2 });
    const expected = (await collect(p.generate("The jury said", { maxNewTokens: 10 }))).join("");
    const { code, out } = await llm(["generate", folder, "-p", "The jury said", "-n", "10", "--dtype", "q8_0", "--threads", "2", "-q"]);
    expect(code).toBe(0);
    expect(out).toBe(`${expected}\n`);
    // and the GGUF file generates the same
    const gguf = join(work, "llama-q8_0.gguf");
    if (!readdirSync(work).includes("llama-q8_0.gguf"))
      expect((await llm(["convert", folder, "--out", gguf, "--dtype", "q8_0", "-q"])).code).toBe(0);
    expect((await llm(["generate", gguf, "-p", "The jury said", "-n", "10", "-q"])).out).toBe(`${expected}\n`);
    p.dispose();
  });

  it("info on a GGUF file: architecture, tensor types, tokenizer", async () => {
    const gguf = join(work, "llama-info.gguf");
    expect((await llm(["convert", folder, "--out", gguf, "--dtype", "q4_0", "-q"])).code).toBe(0);
    const { code, out } = await llm(["info", gguf, "--json"]);
    expect(code).toBe(0);
    const report = JSON.parse(out);
    expect(report.gguf).toMatchObject({ architecture: "llama", layers: 2, width: 64, heads: 4, kvHeads: 2, fileType: 2 });
    expect(Object.keys(report.weights.dtypes).sort()).toEqual(["F32", "Q4_0", "Q8_0"]);
    expect(report.tokenizer).toMatchObject({ vocabSize: 512, chatTemplates: ["default"], specialTokens: { eos_token: "<|im_end|>" } });
    const text = await llm(["info", gguf]);
    expect(text.out).toContain('architecture  llama (GGUF, "LlamaForCausalLM"): 2 layers, width 64, 4 heads (2 key/value), context 64');
  });
});
