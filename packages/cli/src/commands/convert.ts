import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadGGUFFrom, loadModelFrom, WEIGHT_DTYPES, type Model, type WeightDType } from "@llm/models";
import { saveGGUF, saveModel } from "@llm/models/node";
import { ggufText, ggufTokenizerMetadata, loadTokenizerFrom, type GGUFText } from "@llm/pretrained";
import { isQuantized, openGGUF, readWholeFile, type CheckpointFiles } from "@llm/tensor";
import { LOAD_HELP, LOAD_OPTIONS, parse } from "../args.js";
import { formatBytes, type Io, UsageError } from "../io.js";
import { computeOptions, sourceOf } from "../load.js";
import type { Command } from "../main.js";

/** The files besides the weights that a model folder carries over unchanged (safetensors to safetensors). */
const CARRIED = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "chat_template.jinja",
  "vocab.json",
  "merges.txt",
];

/** What each output format holds. */
const SAFETENSORS_DTYPES = ["auto", "float32", "float16", "bfloat16"];
/** What a GGUF file can hold: every weight dtype loadModel takes. */
const GGUF_DTYPES: readonly string[] = WEIGHT_DTYPES;

export const convert: Command = {
  summary: "safetensors folder <-> GGUF file, in another dtype or quantized (q8_0, q4_0, q6_k)",
  help: `Usage: llm convert SOURCE --out PATH [--to safetensors|gguf] [--dtype TYPE] [--max-shard-size SIZE]

Loads the model (a safetensors folder, a .gguf file, or the URL or Hub id of either) and writes it:

  - as a GGUF file (--to gguf, or an --out PATH ending in .gguf) that llama.cpp, Ollama and LM
    Studio run: llama.cpp's tensor names and row orders, with the tokenizer (byte-level BPE, or
    SentencePiece BPE as LLaMA 2 and Gemma have it), its special tokens and the chat template in
    the file's metadata;
  - as a safetensors folder (the default) in the Hugging Face layout: config.json and
    model.safetensors, or shards of at most --max-shard-size with their index; the tokenizer,
    generation and chat template files carried over (from a GGUF file: tokenizer.json,
    tokenizer_config.json and generation_config.json made from its metadata).

Every file is written to a temporary name and renamed.

  -o, --out PATH           the GGUF file, or the folder, to write
  --to FORMAT              gguf or safetensors (default: gguf when PATH ends in .gguf, else safetensors)
  --dtype TYPE             the weights' dtype in the output: auto (default: as stored), float32,
                           float16, bfloat16; for GGUF also q8_0, q4_0, q5_0, q4_1, q5_1, q2_k, q3_k,
                           q4_k, q5_k, q6_k, iq4_nl, iq4_xs and llama-quantize's mixes q3_k_s, q3_k_m, q3_k_l, q4_k_s,
                           q4_k_m, q5_k_s, q5_k_m (llama.cpp's
                           choice per weight: norms stay float32, the head Q8_0 or Q6_K; the bytes
                           llama-quantize writes). A quantized source is not quantized again into
                           another block type.
  --max-shard-size SIZE    safetensors: e.g. 2GB, 500MB (default 5GB, transformers' default)

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("convert", args, {
      ...LOAD_OPTIONS,
      out: { type: "string", short: "o" },
      "max-shard-size": { type: "string" },
      to: { type: "string" },
      dtype: { type: "string" },
    });
    const source = positionals[0];
    if (!source) throw new UsageError("expected a SOURCE: a model folder, a .gguf file, a URL or a Hub id");
    const out = values.out as string | undefined;
    if (!out) throw new UsageError("expected --out PATH: the GGUF file or the folder to write");
    const to = (values.to as string | undefined) ?? (out.toLowerCase().endsWith(".gguf") ? "gguf" : "safetensors");
    if (to !== "safetensors" && to !== "gguf") throw new UsageError(`--to: expected gguf or safetensors, found ${JSON.stringify(to)}`);
    if (to === "gguf" && !out.toLowerCase().endsWith(".gguf"))
      throw new UsageError(`--out: a GGUF file's name ends in .gguf, found ${JSON.stringify(out)}`);
    const dtype = checkDType(values.dtype as string | undefined, to);
    if (to === "gguf" && values["max-shard-size"] !== undefined)
      throw new UsageError("--max-shard-size: GGUF is written as one file; the option is for safetensors");
    const maxShardBytes = values["max-shard-size"] === undefined ? undefined : parseSize(values["max-shard-size"] as string);
    const { files, file } = await sourceOf(source, values, io, true);
    const { backend } = await computeOptions({});
    const model = file ? (await loadGGUFFrom(files, file, { backend, dtype })).model : await loadModelFrom(files, { backend, dtype });
    try {
      // safetensors holds float weights only: blocks of a quantized GGUF file are widened (halves stay)
      if (to === "safetensors") for (const p of model.parameters()) if (isQuantized(p.dtype)) p.replaceWith(p.cast("float32"));
      if (to === "gguf") await writeGGUF(model, files, file, out, io);
      else await writeFolder(model, files, file, out, maxShardBytes, io);
    } finally {
      model.dispose();
    }
  },
};

function checkDType(dtype: string | undefined, to: "gguf" | "safetensors"): WeightDType {
  if (dtype === undefined) return "auto";
  const allowed = to === "gguf" ? GGUF_DTYPES : SAFETENSORS_DTYPES;
  if (allowed.includes(dtype)) return dtype as WeightDType;
  if (to === "safetensors" && GGUF_DTYPES.includes(dtype))
    throw new UsageError(`--dtype: safetensors holds float weights (${SAFETENSORS_DTYPES.join(", ")}); ${dtype} needs --to gguf`);
  throw new UsageError(`--dtype: expected one of ${allowed.join(", ")}, found ${JSON.stringify(dtype)}`);
}

/** The model as a GGUF file, with the tokenizer of the source (its GGUF metadata, or the folder's files) when there is one. */
async function writeGGUF(model: Model, files: CheckpointFiles, file: string | undefined, out: string, io: Io): Promise<void> {
  let tokenizer: ReturnType<typeof ggufTokenizerMetadata> | undefined;
  let note = "";
  try {
    const text = file ? ggufText((await openGGUF(files, file)).metadata, file) : await loadTokenizerFrom(files);
    tokenizer = ggufTokenizerMetadata(text.tokenizer, text.tokenizerConfig, text.chatTemplates);
  } catch (error) {
    // llama.cpp cannot run a file without one; say so, and still write the weights
    note = `; without a tokenizer (${(error as Error).message})`;
    io.stderr.write(`llm convert: writing the weights without a tokenizer: ${(error as Error).message}\n`);
  }
  await saveGGUF(model, out, { tokenizer });
  io.stdout.write(`wrote ${out}: ${summary(model)}${tokenizer ? ", with the tokenizer and chat template" : note}\n`);
}

/** The model as a safetensors folder, with the source's tokenizer, generation and template files. */
async function writeFolder(
  model: Model,
  files: CheckpointFiles,
  file: string | undefined,
  out: string,
  maxShardBytes: number | undefined,
  io: Io,
): Promise<void> {
  await mkdir(out, { recursive: true });
  await saveModel(model, out, { maxShardBytes });
  const written: string[] = [];
  if (file) {
    let text: GGUFText | null = null;
    try {
      text = ggufText((await openGGUF(files, file)).metadata, file);
    } catch (error) {
      io.stderr.write(`llm convert: no tokenizer written: ${(error as Error).message}\n`);
    }
    if (text) {
      for (const [name, json] of Object.entries(folderFilesOf(text))) {
        await writeAtomically(join(out, name), `${JSON.stringify(json, null, 2)}\n`);
        written.push(name);
      }
    }
  } else {
    for (const name of CARRIED) {
      const bytes = await readWholeFile(files, name);
      if (!bytes) continue;
      await writeAtomically(join(out, name), bytes);
      written.push(name);
    }
  }
  const shards = maxShardBytes ? ` (shards of at most ${formatBytes(maxShardBytes)})` : "";
  io.stdout.write(`wrote ${out}: ${summary(model)} as safetensors${shards}${written.length ? `, and ${written.join(", ")}` : ""}\n`);
}

/** tokenizer.json, tokenizer_config.json and generation_config.json as transformers would write them for a GGUF file's tokenizer. */
function folderFilesOf(text: GGUFText): Record<string, unknown> {
  const config = text.tokenizerConfig;
  const templates = Object.entries(text.chatTemplates);
  const tokenizerConfig: Record<string, unknown> = {
    ...config.specialTokens,
    ...(config.addBosToken !== null ? { add_bos_token: config.addBosToken } : {}),
    ...(config.addEosToken !== null ? { add_eos_token: config.addEosToken } : {}),
    clean_up_tokenization_spaces: false,
  };
  if (templates.length === 1 && templates[0]![0] === "default") tokenizerConfig.chat_template = templates[0]![1];
  else if (templates.length) tokenizerConfig.chat_template = templates.map(([name, template]) => ({ name, template }));
  const generation: Record<string, unknown> = { ...text.tokenIds };
  return { "tokenizer.json": text.tokenizer.toJSON(), "tokenizer_config.json": tokenizerConfig, "generation_config.json": generation };
}

/** "2 layers, 0.2 M parameters (q8_0 60%, float32 40%)": what was written. */
function summary(model: Model): string {
  const counts = new Map<string, number>();
  let total = 0;
  for (const p of model.parameters()) {
    counts.set(p.dtype, (counts.get(p.dtype) ?? 0) + p.size);
    total += p.size;
  }
  const parts = [...counts]
    .sort((a, b) => b[1] - a[1])
    .map(([d, n]) => `${d} ${((100 * n) / total).toFixed(0)}%`)
    .join(", ");
  return `${total.toLocaleString("en-US")} parameters (${parts})`;
}

async function writeAtomically(path: string, data: string | Uint8Array): Promise<void> {
  const temp = `${path}.${process.pid}.partial`;
  await writeFile(temp, data);
  await rename(temp, path);
}

/** "2GB", "500MB", "1.5GiB" or a byte count (decimal units as transformers: 1GB = 1e9). */
export function parseSize(text: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*$/i.exec(text);
  if (!match) throw new UsageError(`--max-shard-size: expected a size such as 2GB or 500MB, found ${JSON.stringify(text)}`);
  const units: Record<string, number> = {
    b: 1,
    kb: 1e3,
    mb: 1e6,
    gb: 1e9,
    tb: 1e12,
    kib: 2 ** 10,
    mib: 2 ** 20,
    gib: 2 ** 30,
    tib: 2 ** 40,
  };
  const bytes = Number(match[1]) * units[(match[2] ?? "b").toLowerCase()]!;
  if (!(bytes > 0)) throw new UsageError(`--max-shard-size: expected a size above 0, found ${JSON.stringify(text)}`);
  return Math.floor(bytes);
}
