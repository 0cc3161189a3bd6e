import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { loadModelFrom } from "@llm/models";
import { saveModel } from "@llm/models/node";
import { readWholeFile } from "@llm/tensor";
import { LOAD_HELP, LOAD_OPTIONS, parse } from "../args.js";
import { formatBytes, type Io, UsageError } from "../io.js";
import { loadOptions, sourceFiles } from "../load.js";
import type { Command } from "../main.js";

/** The files besides the weights that a model folder carries over unchanged. */
const CARRIED = [
  "tokenizer.json",
  "tokenizer_config.json",
  "special_tokens_map.json",
  "generation_config.json",
  "chat_template.jinja",
  "vocab.json",
  "merges.txt",
];

export const convert: Command = {
  summary: "re-save a model folder: safetensors, sharded or not, float32 (GGUF and other dtypes: not in this version)",
  help: `Usage: llm convert SOURCE --out DIR [--max-shard-size SIZE] [--dtype float32]

Loads the model (a folder, URL or Hub id) and writes it to DIR in the Hugging Face layout:
config.json and model.safetensors, or shards of at most --max-shard-size with their
model.safetensors.index.json (transformers' names), plus the tokenizer, generation and chat
template files as they were. Float16/bfloat16 weights are written as float32. Every file is written
to a temporary name and renamed.

What this version does not convert (refused with a message, never half done): GGUF (--to gguf),
and writing float16, bfloat16 or quantized weights (--dtype other than float32).

  -o, --out DIR            the folder to write
  --max-shard-size SIZE    e.g. 2GB, 500MB (default 5GB, transformers' default)
  --to FORMAT              safetensors (default)
  --dtype TYPE             float32 (default)

${LOAD_HELP}`,
  async run(args: string[], io: Io) {
    const { values, positionals } = parse("convert", args, {
      ...LOAD_OPTIONS,
      out: { type: "string", short: "o" },
      "max-shard-size": { type: "string" },
      to: { type: "string" },
    });
    const source = positionals[0];
    if (!source) throw new UsageError("expected a SOURCE: a model folder, URL or Hub id");
    if (!values.out) throw new UsageError("expected --out DIR: the folder to write");
    const to = (values.to as string | undefined) ?? "safetensors";
    if (to !== "safetensors")
      throw new UsageError(`--to: expected safetensors (GGUF output is not in this version), found ${JSON.stringify(to)}`);
    const dtype = (values.dtype as string | undefined) ?? "float32";
    if (dtype !== "float32")
      throw new UsageError(
        `--dtype: expected float32 (float16, bfloat16 and quantized output are not in this version), found ${JSON.stringify(dtype)}`,
      );
    const maxShardBytes = values["max-shard-size"] === undefined ? undefined : parseSize(values["max-shard-size"] as string);
    const files = await sourceFiles(source, values, io, true);
    const options = await loadOptions(values, io);
    const model = await loadModelFrom(files, { backend: options.backend });
    const out = values.out as string;
    try {
      await mkdir(out, { recursive: true });
      await saveModel(model, out, { maxShardBytes });
    } finally {
      model.dispose();
    }
    const carried: string[] = [];
    for (const name of CARRIED) {
      const bytes = await readWholeFile(files, name);
      if (!bytes) continue;
      const temp = join(out, `.${name}.${process.pid}.partial`);
      await writeFile(temp, bytes);
      await rename(temp, join(out, name));
      carried.push(name);
    }
    io.stdout.write(
      `wrote ${out}: the weights as safetensors${maxShardBytes ? ` (shards of at most ${formatBytes(maxShardBytes)})` : ""}${carried.length ? `, and ${carried.join(", ")}` : ""}\n`,
    );
  },
};

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
