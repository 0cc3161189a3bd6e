/**
 * `@llm/models/node`: checkpoint folders on disk. A separate entry point, so that browser bundles
 * of `@llm/models` never import `fs`.
 */
import { mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkpointFolder,
  recoverFolder,
  writeCheckpointFolder,
  writeFileAtomic,
  writeGGUFFile,
  type FilePath,
  type WriteCheckpointFolderOptions,
} from "@llm/tensor/node";
import { addPeftAdapter, LoraAdapters, peftAdapterFiles, readPeftAdapter, type SavableModel, type ToPeftOptions } from "@llm/layers";
import { loadGGUFFrom, type LoadGGUFOptions, type LoadedGGUF } from "./gguf/read.js";
import { modelToGGUF, type GGUFExportOptions } from "./gguf/write.js";
import type { Model } from "./architecture.js";
import { loadModelFrom, type LoadModelOptions } from "./load.js";

export type { LoadModelOptions } from "./load.js";
export type { GGUFExportOptions, LoadGGUFOptions, LoadedGGUF } from "./gguf/index.js";
export type { WriteCheckpointFolderOptions as SaveModelOptions } from "@llm/tensor/node";

/**
 * Loads a checkpoint folder as people download it: config.json plus model.safetensors, or the
 * shards a model.safetensors.index.json lists. `model_type` picks the architecture; names and
 * shapes are checked before any weight is read; weights keep the dtype stored (options.dtype "auto"),
 * or are widened ("float32") or quantized ("q8_0", "q4_0") as they are read. A folder that an
 * interrupted @llm/train saveCheckpoint left behind is first restored to its newest complete
 * checkpoint (recoverFolder).
 */
export async function loadModel(dir: FilePath, options: LoadModelOptions = {}): Promise<Model> {
  await recoverFolder(typeof dir === "string" ? dir : fileURLToPath(dir));
  return loadModelFrom(checkpointFolder(dir), options);
}

/**
 * Writes a model as a checkpoint folder in its architecture's Hugging Face layout (config.json and
 * model.safetensors, or shards of at most `maxShardBytes` with their index): loadModel and
 * transformers' from_pretrained read it back.
 */
export function saveModel(model: SavableModel, dir: FilePath, options: WriteCheckpointFolderOptions = {}): Promise<void> {
  return writeCheckpointFolder(dir, model.toCheckpoint(), options);
}

export interface LoadLoraAdapterOptions {
  /** The adapter's name in the model (default "default", as peft's). */
  name?: string;
  /** Whether its tensors take gradients (default false, as peft's is_trainable). */
  trainable?: boolean;
}

/**
 * Adds the LoRA adapter of a PEFT folder (adapter_config.json + adapter_model.safetensors, as
 * peft's save_pretrained writes it) to `model`, on the model's backend. Returns the model's
 * LoraAdapters; `use(name)` switches to it when another adapter is active.
 */
export async function loadLoraAdapter(model: Model, dir: FilePath, options: LoadLoraAdapterOptions = {}): Promise<LoraAdapters> {
  const files = checkpointFolder(dir);
  const adapter = await readPeftAdapter(files, { backend: model.backend });
  try {
    return addPeftAdapter(model, options.name ?? "default", adapter, { trainable: options.trainable ?? false, source: files.location });
  } catch (error) {
    for (const t of Object.values(adapter.tensors)) t.dispose();
    throw error;
  }
}

export interface SaveLoraAdapterOptions extends ToPeftOptions {
  /** Which adapter (default: the only one, or "default"). */
  adapter?: string;
}

/**
 * Writes one LoRA adapter as a PEFT folder: adapter_config.json with every field peft writes and
 * adapter_model.safetensors with peft's key names (each file atomically), which peft's
 * PeftModel.from_pretrained loads onto the same base model.
 */
export async function saveLoraAdapter(model: Model, dir: FilePath, options: SaveLoraAdapterOptions = {}): Promise<void> {
  const adapters = LoraAdapters.of(model);
  const names = adapters.names;
  const name = options.adapter ?? (names.length === 1 ? names[0]! : "default");
  const files = await peftAdapterFiles(adapters, name, options);
  const folder = typeof dir === "string" ? dir : fileURLToPath(dir);
  await mkdir(folder, { recursive: true });
  for (const [file, bytes] of Object.entries(files)) await writeFileAtomic(join(folder, file), bytes);
}

const toPath = (path: FilePath): string => (typeof path === "string" ? path : fileURLToPath(path));

/**
 * Loads a GGUF file (llama.cpp's format) as one of our models, each weight in the type the file
 * stores (Q4_K, Q5_K, Q6_K, Q8_0, Q4_0, F16, BF16, F32); the metadata comes with it (the tokenizer's:
 * @llm/tokenizer's fromGGUFMetadata).
 */
export function loadGGUF(path: FilePath, options: LoadGGUFOptions = {}): Promise<LoadedGGUF> {
  const p = toPath(path);
  return loadGGUFFrom(checkpointFolder(dirname(p)), basename(p), options);
}

/**
 * Writes a model as a GGUF file that llama.cpp (and Ollama, LM Studio) runs, weights in the dtypes
 * the model holds (quantize it first for Q8_0 / Q4_0), with the tokenizer's metadata when given.
 * Streams one tensor at a time to a temporary name, renamed when complete.
 */
export async function saveGGUF(model: Model, path: FilePath, options: GGUFExportOptions = {}): Promise<void> {
  const { metadata, tensors } = await modelToGGUF(model, options);
  await writeGGUFFile(path, metadata, tensors);
}
