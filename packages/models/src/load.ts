import { StateDictError } from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import type { Model } from "./architecture.js";
import type { RawConfig } from "./config.js";
import { CheckpointError, ModelConfigError } from "./errors.js";
import { architectureFor } from "./registry.js";

/**
 * Builds the model `config` describes and loads `tensors` (checkpoint names, any float dtype:
 * float16/bfloat16 are widened to float32). Missing, unexpected and mis-shaped tensors throw one
 * CheckpointError naming each. The tensors are copied; the caller may dispose them.
 */
export function modelFromCheckpoint(config: RawConfig, tensors: Record<string, Tensor>, source = "checkpoint"): Model {
  const architecture = architectureFor(config);
  const model = architecture.create(config);
  const named = architecture.normalizeKeys ? architecture.normalizeKeys(tensors, model) : tensors;
  try {
    model.loadStateDict(named, { source });
  } catch (error) {
    model.dispose();
    if (error instanceof StateDictError) {
      throw new CheckpointError(`${error.message} (model_type "${String(config.model_type)}")`);
    }
    throw error;
  }
  return model.eval();
}

export interface LoadModelOptions {
  /**
   * Reads the folder's tensors (model.safetensors or the shards of model.safetensors.index.json).
   * Default: @llm/tensor/node's readSafetensorsCheckpoint, widening halves to float32.
   */
  readTensors?: (dir: string) => Promise<Record<string, Tensor>>;
}

async function readWithTensorNode(dir: string): Promise<Record<string, Tensor>> {
  const { readSafetensorsCheckpoint } = await import("@llm/tensor/node");
  return readSafetensorsCheckpoint(dir, { dtype: "float32" });
}

/**
 * Loads a checkpoint folder as people download it: config.json plus model.safetensors, or the
 * shards a model.safetensors.index.json lists (Node; in a browser, read the files and call
 * modelFromCheckpoint). `model_type` picks the architecture; float16/bfloat16 become float32.
 */
export async function loadModel(dir: string | URL, options: LoadModelOptions = {}): Promise<Model> {
  const { readFile } = await import("node:fs/promises");
  const { join } = await import("node:path");
  const { fileURLToPath } = await import("node:url");
  const root = dir instanceof URL ? fileURLToPath(dir) : dir;
  const configPath = join(root, "config.json");
  let text: string;
  try {
    text = await readFile(configPath, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new CheckpointError(`${root}: expected a config.json, found none`);
    throw error;
  }
  let config: RawConfig;
  try {
    config = JSON.parse(text) as RawConfig;
  } catch (error) {
    throw new ModelConfigError(`${configPath}: expected JSON, found a parse error (${(error as Error).message})`);
  }
  if (typeof config !== "object" || config === null || Array.isArray(config)) {
    throw new ModelConfigError(`${configPath}: expected a JSON object, found ${JSON.stringify(config)?.slice(0, 60)}`);
  }
  architectureFor(config); // an unknown model_type fails before any tensor is read
  const tensors = await (options.readTensors ?? readWithTensorNode)(root);
  try {
    return modelFromCheckpoint(config, tensors, root);
  } finally {
    for (const t of Object.values(tensors)) t.dispose();
  }
}
