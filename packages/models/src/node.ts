/**
 * `@llm/models/node`: checkpoint folders on disk. A separate entry point, so that browser bundles
 * of `@llm/models` never import `fs`.
 */
import { checkpointFolder, recoverFolder, writeCheckpointFolder, type FilePath, type WriteCheckpointFolderOptions } from "@llm/tensor/node";
import { fileURLToPath } from "node:url";
import type { SavableModel } from "@llm/layers";
import type { Model } from "./architecture.js";
import { loadModelFrom, type LoadModelOptions } from "./load.js";

export type { LoadModelOptions } from "./load.js";
export type { WriteCheckpointFolderOptions as SaveModelOptions } from "@llm/tensor/node";

/**
 * Loads a checkpoint folder as people download it: config.json plus model.safetensors, or the
 * shards a model.safetensors.index.json lists. `model_type` picks the architecture; names and
 * shapes are checked before any weight is read; float16/bfloat16 become float32. A folder that an
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
