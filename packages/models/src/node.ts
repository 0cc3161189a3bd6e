/**
 * `@llm/models/node`: checkpoint folders on disk. A separate entry point, so that browser bundles
 * of `@llm/models` never import `fs`.
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  checkpointFolder,
  writeCheckpointFolder,
  writeFileAtomic,
  type FilePath,
  type WriteCheckpointFolderOptions,
} from "@llm/tensor/node";
import { addPeftAdapter, LoraAdapters, peftAdapterFiles, readPeftAdapter, type SavableModel, type ToPeftOptions } from "@llm/layers";
import type { Model } from "./architecture.js";
import { loadModelFrom, type LoadModelOptions } from "./load.js";

export type { LoadModelOptions } from "./load.js";
export type { WriteCheckpointFolderOptions as SaveModelOptions } from "@llm/tensor/node";

/**
 * Loads a checkpoint folder as people download it: config.json plus model.safetensors, or the
 * shards a model.safetensors.index.json lists. `model_type` picks the architecture; names and
 * shapes are checked before any weight is read; float16/bfloat16 become float32.
 */
export function loadModel(dir: FilePath, options: LoadModelOptions = {}): Promise<Model> {
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
