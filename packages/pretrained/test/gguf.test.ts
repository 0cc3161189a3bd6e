/**
 * GGUF files through the front door: a .gguf file, a folder holding one, its URL (a static server
 * and the Hub's resolve URL) and a Hub id with `file`, each giving the model, tokenizer, chat
 * template and stop tokens that the safetensors folder it was written from gives.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createModel, quantize } from "@llm/models";
import { loadModel, saveGGUF, saveModel } from "@llm/models/node";
import { noGrad, tensor, type Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ggufText, ggufTokenizerMetadata, PretrainedError, type Pretrained } from "../src/index.js";
import { loadPretrained } from "../src/node.js";
import { chatFolder, FIXTURES, lenmlModels } from "./helpers/folders.js";
import { serveHub, type HubServer } from "./helpers/hub_server.js";

let work: string;
let folder: string;
let ggufDir: string;
let server: HubServer;
let reference: Record<string, Tensor>;
let safetensors: Pretrained;

const CONVERSATION = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "Who said it?" },
];

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "llm-pretrained-gguf-"));
  folder = await chatFolder(join(work, "chat"));
  safetensors = await loadPretrained(folder);
  const tokenizer = ggufTokenizerMetadata(safetensors.tokenizer, safetensors.tokenizerConfig, safetensors.chatTemplates);
  ggufDir = join(work, "gguf");
  mkdirSync(ggufDir);
  await saveGGUF(safetensors.model, join(ggufDir, "chat-f32.gguf"), { tokenizer });
  const q8 = await quantize(await loadModel(folder), "q8_0");
  await saveGGUF(q8, join(ggufDir, "chat-q8_0.gguf"), { tokenizer });
  q8.dispose();
  // a folder with one GGUF file, and one whose GGUF file holds no tokenizer but a tokenizer.json beside it
  mkdirSync(join(work, "one"));
  copyFileSync(join(ggufDir, "chat-f32.gguf"), join(work, "one", "model.gguf"));
  mkdirSync(join(work, "bare"));
  await saveGGUF(safetensors.model, join(work, "bare", "model.gguf"));
  server = await serveHub({ "test-org/chat-GGUF": ggufDir, "test-org/bare-GGUF": join(work, "bare") });
  reference = await readSafetensorsFile(join(FIXTURES, "llama", "reference.safetensors"));
});
afterAll(async () => {
  safetensors?.dispose();
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

function maxAbsDiff(a: Tensor, b: Tensor): number {
  expect(a.shape).toEqual(b.shape);
  const [x, y] = [a.dataSync(), b.dataSync()];
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}
const logitsOf = (p: Pretrained): Tensor => noGrad(() => p.model.forward(reference.input_ids!));

/** What the safetensors folder gives and the GGUF must give too: logits, tokens, template, stops, a chat reply. */
async function expectSameAsFolder(p: Pretrained): Promise<void> {
  expect(maxAbsDiff(logitsOf(p), logitsOf(safetensors))).toBe(0);
  expect(maxAbsDiff(logitsOf(p), reference.logits!)).toBeLessThanOrEqual(1e-4);
  const text = "The jury said <|im_start|>it did<|im_end|>";
  expect(p.encode(text)).toEqual(safetensors.encode(text));
  expect(p.tokenizer.vocabSize).toBe(safetensors.tokenizer.vocabSize);
  expect(p.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true })).toBe(
    safetensors.applyChatTemplate(CONVERSATION, { addGenerationPrompt: true }),
  );
  expect(p.tokenizerConfig?.specialTokens.eos_token).toBe("<|im_end|>");
  expect(p.endOfTurnIds()).toEqual(safetensors.endOfTurnIds());
  const [a, b] = [p.chat({ maxNewTokens: 6 }), safetensors.chat({ maxNewTokens: 6 })];
  expect(await a.reply("Hello there")).toBe(await b.reply("Hello there"));
}

describe("loadPretrained on GGUF", () => {
  it("a local .gguf file: model, tokenizer (from its metadata), chat template, stop tokens", async () => {
    const p = await loadPretrained(join(ggufDir, "chat-f32.gguf"));
    await expectSameAsFolder(p);
    expect(p.location).toBe(join(ggufDir, "chat-f32.gguf"));
    expect(p.config.model_type).toBe("llama");
    p.dispose();
  });

  it("a folder holding one .gguf file and no config.json; a folder of several needs `file`", async () => {
    const p = await loadPretrained(join(work, "one"));
    await expectSameAsFolder(p);
    p.dispose();
    await expect(loadPretrained(ggufDir)).rejects.toThrow(
      `source: ${ggufDir} holds 2 GGUF files (chat-f32.gguf, chat-q8_0.gguf) and no config.json; name one: options.file (llm: --file), or the file's path`,
    );
    const named = await loadPretrained(ggufDir, { file: "chat-f32.gguf" });
    await expectSameAsFolder(named);
    named.dispose();
  });

  it("by URL (a static folder and the Hub's resolve URL) and by Hub id with `file`, cached like any file", async () => {
    for (const url of [
      `${server.url}/static/test-org/chat-GGUF/chat-f32.gguf`,
      `${server.url}/test-org/chat-GGUF/resolve/main/chat-f32.gguf`,
    ]) {
      const p = await loadPretrained(url, { cacheDir: join(work, "cache-url") });
      await expectSameAsFolder(p);
      p.dispose();
    }
    const cacheDir = join(work, "cache-hub");
    const p = await loadPretrained("test-org/chat-GGUF", { endpoint: server.url, file: "chat-f32.gguf", cacheDir });
    await expectSameAsFolder(p);
    p.dispose();
    const from = server.requests.length;
    const again = await loadPretrained("test-org/chat-GGUF", { endpoint: server.url, file: "chat-f32.gguf", cacheDir });
    expect(server.requests.slice(from)).toEqual([]);
    again.dispose();
    // without a cache: range requests for the header and each tensor, never the whole file
    const ranged = await loadPretrained("test-org/chat-GGUF", { endpoint: server.url, file: "chat-f32.gguf", cache: false });
    await expectSameAsFolder(ranged);
    ranged.dispose();
  });

  it("a Q8_0 file stays Q8_0 (the weights loadModel makes with dtype q8_0); dtype float32 widens it", async () => {
    const q8 = await loadPretrained("test-org/chat-GGUF", { endpoint: server.url, file: "chat-q8_0.gguf", cacheDir: join(work, "c-q8") });
    const direct = await loadModel(folder, { dtype: "q8_0" });
    expect(q8.model.head.weight.dtype).toBe("q8_0");
    const twin = new Map(direct.namedParameters());
    for (const [name, t] of q8.model.namedParameters()) expect(t.dtype, name).toBe(twin.get(name)!.dtype);
    const logits = logitsOf(q8);
    expect(
      maxAbsDiff(
        logits,
        noGrad(() => direct.forward(reference.input_ids!)),
      ),
    ).toBe(0);
    expect(maxAbsDiff(logits, reference.logits!)).toBeLessThanOrEqual(0.3);
    const wide = await loadPretrained(join(ggufDir, "chat-q8_0.gguf"), { dtype: "float32" });
    expect(wide.model.parameters().every((t) => t.dtype === "float32")).toBe(true);
    expect(maxAbsDiff(logitsOf(wide), logits)).toBeLessThanOrEqual(1e-4);
    // a float file converts as it loads; a quantized one is not quantized again
    const f32AsQ8 = await loadPretrained(join(ggufDir, "chat-f32.gguf"), { dtype: "q8_0" });
    expect(maxAbsDiff(logitsOf(f32AsQ8), logits)).toBe(0);
    await expect(loadPretrained(join(ggufDir, "chat-q8_0.gguf"), { dtype: "q4_0" })).rejects.toThrow(
      /chat-q8_0\.gguf: tensor "token_embd\.weight" is stored q8_0; dtype "q4_0" would quantize it again as q4_0/,
    );
    for (const m of [q8, wide, f32AsQ8]) m.dispose();
    direct.dispose();
  });

  it("a GGUF file without a tokenizer: the folder's tokenizer.json if it has one, else an error saying what to add", async () => {
    const message =
      "holds no tokenizer (no tokenizer.ggml.* metadata); and " +
      "%s has no tokenizer.json beside it (put the model's tokenizer.json, and tokenizer_config.json, in the same folder)";
    const remote = `${server.url}/test-org/bare-GGUF/resolve/main`;
    await expect(
      loadPretrained("test-org/bare-GGUF", { endpoint: server.url, file: "model.gguf", cacheDir: join(work, "c-bare") }),
    ).rejects.toThrow(`${remote}/model.gguf: ${message.replace("%s", remote)}`);
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(folder, name), join(work, "bare", name));
    const p = await loadPretrained(join(work, "bare", "model.gguf"));
    await expectSameAsFolder(p);
    p.dispose();
  });

  it("a GGUF repository loaded without `file` says how; `file` must name a .gguf file", async () => {
    await expect(loadPretrained("test-org/chat-GGUF", { endpoint: server.url, cacheDir: join(work, "c-none") })).rejects.toThrow(
      `${server.url}/test-org/chat-GGUF/resolve/main/: expected a config.json, found none (for a GGUF file, name it: options.file, or the file's own path or URL)`,
    );
    await expect(loadPretrained(folder, { file: "model.safetensors" })).rejects.toThrow(
      'file: expected the name of a .gguf file in the folder or repository (e.g. "model-Q4_K_M.gguf"), found "model.safetensors"',
    );
    const missing = await loadPretrained(ggufDir, { file: "nope.gguf" }).catch((e: unknown) => e);
    expect((missing as Error).message).toBe(`${ggufDir}/nope.gguf: no such file`);
    expect(missing).not.toBeInstanceOf(PretrainedError);
  });

  it("a byte-level vocabulary without add_bos_token: bos for Llama 3's pre-tokenizer labels (falcon3 and pixtral among them), as llama.cpp, none for others", () => {
    const tokens = ["<|begin_of_text|>", ...Array.from({ length: 256 }, (_, b) => String.fromCodePoint(b < 33 ? 256 + b : b))];
    for (const [pre, bos] of [
      ["llama-bpe", true],
      ["llama3", true],
      ["falcon3", true],
      ["pixtral", true],
      ["qwen2", false],
      ["gpt-2", false],
      ["default", false],
    ] as const) {
      const metadata = new Map<string, unknown>([
        ["tokenizer.ggml.model", "gpt2"],
        ["tokenizer.ggml.pre", pre],
        ["tokenizer.ggml.tokens", tokens],
        ["tokenizer.ggml.token_type", tokens.map((_, id) => (id === 0 ? 3 : 1))],
        ["tokenizer.ggml.merges", []],
        ["tokenizer.ggml.bos_token_id", 0],
      ]);
      expect(ggufText(metadata, `${pre}.gguf`).tokenizerConfig.addBosToken, pre).toBe(bos);
    }
  });

  it('a SentencePiece ("llama") vocabulary without add_bos_token: llama.cpp\'s default, bos first and a space before the text', () => {
    // LLaMA 2's layout with a handful of pieces: <unk>, <s>, </s>, the 256 byte pieces, then pieces by score
    const bytes = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);
    const pieces = ["<unk>", "<s>", "</s>", ...bytes, "▁", "a", "b", "▁a", "ab", "▁ab"];
    const scores = pieces.map((p, id) => (id < 259 ? 0 : p === "▁a" ? -1 : p === "▁ab" ? -2 : p === "ab" ? -3 : -10 - id));
    const types = pieces.map((_, id) => (id === 0 ? 2 : id < 3 ? 3 : id < 259 ? 6 : 1));
    const metadata = new Map<string, unknown>([
      ["tokenizer.ggml.model", "llama"],
      ["tokenizer.ggml.tokens", pieces],
      ["tokenizer.ggml.scores", scores],
      ["tokenizer.ggml.token_type", types],
      ["tokenizer.ggml.bos_token_id", 1],
      ["tokenizer.ggml.eos_token_id", 2],
    ]);
    const text = ggufText(metadata, "spm.gguf");
    expect(text.tokenizerConfig.addBosToken).toBe(true);
    const [bos, ab, b, space, tilde] = [1, pieces.indexOf("▁ab"), pieces.indexOf("b"), pieces.indexOf("▁"), 3 + 0x7e];
    expect(text.tokenizer.encode("ab b~")).toEqual([bos, ab, space, b, tilde]);
    expect(text.tokenizer.decode(text.tokenizer.encode("ab b~"), { skipSpecialTokens: true })).toBe("ab b~");
  });

  it("a LLaMA 2 folder (its own tokenizer.json and tokenizer_config.json) to GGUF and back: the SentencePiece vocabulary travels", async () => {
    const dir = join(work, "llama2");
    mkdirSync(dir);
    for (const name of ["tokenizer.json", "tokenizer_config.json"]) copyFileSync(join(lenmlModels("llama2"), name), join(dir, name));
    const config = {
      model_type: "llama",
      vocab_size: 32000,
      hidden_size: 32,
      intermediate_size: 64,
      num_hidden_layers: 1,
      num_attention_heads: 2,
      bos_token_id: 1,
      eos_token_id: 2,
    };
    await saveModel(createModel(config, { seed: 7 }), dir);
    const folder = await loadPretrained(dir);
    const metadata = ggufTokenizerMetadata(folder.tokenizer, folder.tokenizerConfig, folder.chatTemplates);
    expect(metadata.get("tokenizer.ggml.model")?.value).toBe("llama");
    expect(metadata.get("tokenizer.ggml.add_bos_token")?.value).toBe(true);
    await saveGGUF(folder.model, join(dir, "model.gguf"), { tokenizer: metadata });
    const gguf = await loadPretrained(join(dir, "model.gguf"));
    const texts = ["Hello world", '  The jury said, "it\'s 1234 miles".\nNew line</s><s> and é 😀', ""];
    for (const text of texts) {
      const ids = folder.encode(text);
      expect(gguf.encode(text), JSON.stringify(text)).toEqual(ids);
      expect(gguf.decode(ids, { skipSpecialTokens: true })).toBe(folder.decode(ids, { skipSpecialTokens: true }));
    }
    expect(gguf.encode("Hello")[0]).toBe(1); // bos, as LLaMA 2's tokenizer adds it
    const ids = tensor([folder.encode(texts[1]!)], { dtype: "int32" });
    const [a, b] = noGrad(() => [folder, gguf].map((p) => p.model.forward(ids)));
    expect(maxAbsDiff(a!, b!)).toBe(0);
    folder.dispose();
    gguf.dispose();
  });
});
