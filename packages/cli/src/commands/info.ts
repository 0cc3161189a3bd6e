import { open, stat } from "node:fs/promises";
import { basename } from "node:path";
import { ggufText, loadTokenizerFrom, parseGenerationConfig } from "@llm/pretrained";
import {
  openCheckpoint,
  openGGUF,
  parseSafetensorsLayout,
  readCheckpointConfig,
  readSafetensorsHeaderLength,
  readWholeFile,
  type CheckpointFiles,
} from "@llm/tensor";
import { LOAD_HELP, LOAD_OPTIONS, parse } from "../args.js";
import { formatBytes, formatCount, type Io, UsageError } from "../io.js";
import { sourceOf } from "../load.js";
import type { Command } from "../main.js";

export const info: Command = {
  summary: "what a model folder, a .gguf file or a .safetensors file holds",
  help: `Usage: llm info SOURCE [--json]

SOURCE is a model folder, URL or Hub id, a .gguf file (or --file NAME of a folder or repository),
or a .safetensors file. Reads config.json, the weights' headers (not the weights: remote files are
read with range requests), the tokenizer files and generation_config.json, and prints the
architecture, parameter count, dtypes, files, tokenizer, generation defaults and chat template;
for a GGUF file, its metadata's architecture, tensor types and tokenizer.

  --json     print it as JSON

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("info", args, { ...LOAD_OPTIONS, json: { type: "boolean" } });
    const source = positionals[0];
    if (!source) throw new UsageError("expected a SOURCE: a model folder, URL, Hub id or .safetensors file");
    let report: Awaited<ReturnType<typeof folderInfo>> | Awaited<ReturnType<typeof fileInfo>> | Awaited<ReturnType<typeof ggufInfo>>;
    if (source.endsWith(".safetensors") && (await isFile(source))) report = await fileInfo(source);
    else {
      const { files, file } = await sourceOf(source, values, io);
      report = file ? await ggufInfo(files, file) : await folderInfo(files);
    }
    io.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  },
};

interface TensorSummary {
  parameters: number;
  tensors: number;
  bytes: number;
  dtypes: Record<string, number>;
}

async function folderInfo(files: CheckpointFiles) {
  const config = await readCheckpointConfig(files);
  const checkpoint = await openCheckpoint(files, config);
  const weightFiles = new Set([...checkpoint.tensors.values()].map((t) => t.file));
  const summary = summarize([...checkpoint.tensors.values()].map((t) => ({ dtype: t.dtype, shape: t.shape, bytes: t.end - t.begin })));
  const names = [
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "chat_template.jinja",
    "special_tokens_map.json",
    "model.safetensors.index.json",
    ...weightFiles,
  ];
  const sizes: Record<string, number> = {};
  for (const name of names) {
    const size = await files.size(name);
    if (size !== null) sizes[name] = size;
  }
  let tokenizer: Record<string, unknown> | string;
  try {
    const t = await loadTokenizerFrom(files);
    tokenizer = {
      vocabSize: t.tokenizer.vocabSize,
      specialTokens: t.tokenizerConfig ? { ...t.tokenizerConfig.specialTokens } : Object.fromEntries(t.tokenizer.specialTokens),
      chatTemplates: Object.keys(t.chatTemplates),
    };
  } catch (error) {
    tokenizer = `none (${(error as Error).message})`;
  }
  const generationBytes = await readWholeFile(files, "generation_config.json");
  const generation = parseGenerationConfig(
    generationBytes ? JSON.parse(new TextDecoder().decode(generationBytes)) : null,
    config,
    files.location,
  );
  return {
    source: files.location,
    architecture: architectureOf(config),
    weights: summary,
    files: sizes,
    tokenizer,
    generation: {
      eosTokenIds: generation.eosTokenIds,
      doSample: generation.doSample ?? false,
      ...(generation.temperature !== null ? { temperature: generation.temperature } : {}),
      ...(generation.topK !== null ? { topK: generation.topK } : {}),
      ...(generation.topP !== null ? { topP: generation.topP } : {}),
      ...(generation.maxNewTokens !== null ? { maxNewTokens: generation.maxNewTokens } : {}),
      from: generation.fromModelConfig ? "config.json" : "generation_config.json",
    },
  };
}

/** A GGUF file: what its metadata says the model is, its tensors' types, its tokenizer. */
async function ggufInfo(files: CheckpointFiles, name: string) {
  const gguf = await openGGUF(files, name);
  const meta = gguf.metadata;
  const arch = String(meta.get("general.architecture") ?? "?");
  const key = (k: string) => (meta.get(`${arch}.${k}`) as number | undefined) ?? null;
  const tensors = [...gguf.tensors].map(([tensorName, t]) => ({
    name: tensorName,
    dtype: t.type,
    shape: t.shape,
    bytes: t.end - t.begin,
  }));
  let tokenizer: Record<string, unknown> | string;
  try {
    const text = ggufText(meta, name);
    tokenizer = {
      vocabSize: text.tokenizer.vocabSize,
      specialTokens: { ...text.tokenizerConfig.specialTokens },
      chatTemplates: Object.keys(text.chatTemplates),
    };
  } catch (error) {
    tokenizer = `none we read (${(error as Error).message})`;
  }
  return {
    source: `${files.location.replace(/\/$/, "")}/${name}`,
    gguf: {
      architecture: arch,
      name: meta.get("general.name") ?? null,
      layers: key("block_count"),
      width: key("embedding_length"),
      heads: key("attention.head_count"),
      kvHeads: key("attention.head_count_kv"),
      context: key("context_length"),
      fileType: meta.get("general.file_type") ?? null,
    },
    weights: summarize(tensors),
    size: await files.size(name),
    tokenizer,
  };
}

async function fileInfo(path: string) {
  const handle = await open(path, "r");
  try {
    const size = (await handle.stat()).size;
    const prefix = Buffer.alloc(Math.min(8, size));
    await handle.read(prefix, 0, prefix.length, 0);
    const length = readSafetensorsHeaderLength(prefix, size, { source: path });
    const head = Buffer.alloc(8 + length);
    await handle.read(head, 0, head.length, 0);
    const layout = parseSafetensorsLayout(head, size, { source: path });
    const tensors = [...layout.tensors].map(([name, e]) => ({ name, dtype: e.dtype, shape: e.shape, bytes: e.end - e.begin }));
    return { source: path, file: basename(path), size, metadata: layout.metadata, weights: summarize(tensors), tensors };
  } finally {
    await handle.close();
  }
}

function summarize(tensors: { dtype: string; shape: readonly number[]; bytes: number }[]): TensorSummary {
  const dtypes: Record<string, number> = {};
  let parameters = 0;
  let bytes = 0;
  for (const t of tensors) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    parameters += n;
    bytes += t.bytes;
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + n;
  }
  return { parameters, tensors: tensors.length, bytes, dtypes };
}

/** The usual config.json keys under their several names. */
function architectureOf(config: Record<string, unknown>) {
  const first = (...keys: string[]) => keys.map((k) => config[k]).find((v) => v !== undefined && v !== null) ?? null;
  return {
    modelType: first("model_type"),
    className: (config.architectures as string[] | undefined)?.[0] ?? null,
    layers: first("num_hidden_layers", "n_layer", "num_layers", "n_layers"),
    width: first("hidden_size", "n_embd", "d_model"),
    heads: first("num_attention_heads", "n_head", "n_heads"),
    kvHeads: first("num_key_value_heads", "multi_query_group_num"),
    vocabSize: first("vocab_size", "padded_vocab_size"),
    context: first("max_position_embeddings", "n_positions", "max_seq_len", "seq_length"),
  };
}

function formatReport(
  report: Awaited<ReturnType<typeof folderInfo>> | Awaited<ReturnType<typeof fileInfo>> | Awaited<ReturnType<typeof ggufInfo>>,
): string {
  const lines: string[] = [`source        ${report.source}`];
  const w = report.weights;
  const dtypes = Object.entries(w.dtypes)
    .map(([d, n]) => `${d} ${formatCount(n)}`)
    .join(", ");
  if ("architecture" in report) {
    const a = report.architecture;
    const kv = a.kvHeads !== null && a.kvHeads !== a.heads ? ` (${a.kvHeads} key/value)` : "";
    lines.push(
      `architecture  ${a.modelType ?? "?"}${a.className ? ` (${a.className})` : ""}: ${a.layers ?? "?"} layers, width ${a.width ?? "?"}, ${a.heads ?? "?"} heads${kv}, vocabulary ${a.vocabSize ?? "?"}, context ${a.context ?? "?"}`,
    );
  }
  if ("gguf" in report) {
    const g = report.gguf;
    const kv = g.kvHeads !== null && g.kvHeads !== g.heads ? ` (${g.kvHeads} key/value)` : "";
    lines.push(
      `architecture  ${g.architecture} (GGUF${g.name ? `, ${JSON.stringify(g.name)}` : ""}): ${g.layers ?? "?"} layers, width ${g.width ?? "?"}, ${g.heads ?? "?"} heads${kv}, context ${g.context ?? "?"}`,
    );
  }
  lines.push(`parameters    ${formatCount(w.parameters)} in ${w.tensors} tensors, ${formatBytes(w.bytes)} (${dtypes})`);
  if ("gguf" in report) {
    const t = report.tokenizer;
    if (typeof t === "string") lines.push(`tokenizer     ${t}`);
    else {
      const special = Object.entries(t.specialTokens as Record<string, string>)
        .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
        .join(", ");
      lines.push(`tokenizer     ${formatCount(t.vocabSize as number)} tokens (from the file)${special ? `; ${special}` : ""}`);
      const templates = t.chatTemplates as string[];
      lines.push(`chat template ${templates.length ? templates.join(", ") : "none"}`);
    }
  } else if ("files" in report) {
    lines.push(
      `files         ${Object.entries(report.files)
        .map(([f, s]) => `${f} ${formatBytes(s)}`)
        .join(", ")}`,
    );
    const t = report.tokenizer;
    if (typeof t === "string") lines.push(`tokenizer     ${t}`);
    else {
      const special = Object.entries(t.specialTokens as Record<string, string>)
        .map(([k, v]) => `${k} ${JSON.stringify(v)}`)
        .join(", ");
      lines.push(`tokenizer     ${formatCount(t.vocabSize as number)} tokens${special ? `; ${special}` : ""}`);
      const templates = t.chatTemplates as string[];
      lines.push(`chat template ${templates.length ? templates.join(", ") : "none"}`);
    }
    const g = report.generation;
    const sampling = g.doSample
      ? `sampling${g.temperature !== undefined ? `, temperature ${g.temperature}` : ""}${g.topP !== undefined ? `, top-p ${g.topP}` : ""}${g.topK !== undefined ? `, top-k ${g.topK}` : ""}`
      : "greedy";
    lines.push(`generation    ${sampling}; stops at ${g.eosTokenIds.length ? `ids ${g.eosTokenIds.join(", ")}` : "no eos id"} (${g.from})`);
  } else {
    lines.push(
      `file          ${report.file}, ${formatBytes(report.size)}${report.metadata ? `, metadata ${JSON.stringify(report.metadata)}` : ""}`,
    );
    for (const t of report.tensors.slice(0, 50)) lines.push(`  ${t.name}  ${t.dtype} [${t.shape.join(", ")}]`);
    if (report.tensors.length > 50) lines.push(`  ... ${report.tensors.length - 50} more (--json lists all)`);
  }
  return lines.join("\n");
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
