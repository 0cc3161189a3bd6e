import { readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import type { SavableModel } from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import {
  checkpointFolder,
  CONFIG_FILE,
  openCheckpoint,
  readSafetensorsFile,
  readSafetensorsFileRaw,
  recoverFolder,
  SAFETENSORS_FILE,
  writeCheckpointFolder,
  writeFileAtomic,
  writeFolderAtomically,
  writeSafetensorsFile,
  type WriteCheckpointFolderOptions,
} from "@llm/tensor/node";
import { TrainError } from "../errors.js";
import type { Optimizer, OptimizerState } from "../optim/optimizer.js";
import type { TrainerState } from "../trainer.js";

export const MODEL_FILE = SAFETENSORS_FILE;
export { CONFIG_FILE };
export const OPTIMIZER_FILE = "optimizer.safetensors";
export const TRAINER_STATE_FILE = "trainer_state.json";

export interface SaveCheckpointOptions {
  model: SavableModel;
  optimizer?: Optimizer<object>;
  /** Trainer.state(): step, loss history and the data position. */
  trainer?: TrainerState;
  /** Shard the model's weights past this many bytes (default: transformers' 5 GB). */
  maxShardBytes?: WriteCheckpointFolderOptions["maxShardBytes"];
}

/**
 * Writes a checkpoint folder: config.json + model.safetensors (or shards and their index) in the
 * architecture's own format, through the same writer as @llm/models/node's saveModel (loadModel
 * and Hugging Face transformers read it), and beside them optimizer.safetensors and
 * trainer_state.json. The folder is built under a temporary name, every file and the folder
 * fsynced, and swapped into place (`writeFolderAtomically`): a crash at any instant leaves the
 * previous checkpoint or the new one, or leftovers from which the next save or load restores the
 * newest complete one; those leftovers are then removed.
 */
export async function saveCheckpoint(dir: string, options: SaveCheckpointOptions): Promise<void> {
  await writeFolderAtomically(dir, async (staging) => {
    await writeCheckpointFolder(staging, options.model.toCheckpoint(), { maxShardBytes: options.maxShardBytes });
    if (options.optimizer) {
      const state = options.optimizer.state();
      await writeSafetensorsFile(join(staging, OPTIMIZER_FILE), state.tensors, { meta: JSON.stringify(state.meta) });
    }
    if (options.trainer) await writeFileAtomic(join(staging, TRAINER_STATE_FILE), utf8(`${JSON.stringify(options.trainer)}\n`));
  });
}

export interface LoadedCheckpoint {
  config: Record<string, unknown>;
  /** Model tensors under their checkpoint names (the caller disposes them). */
  tensors: Record<string, Tensor>;
  optimizer?: OptimizerState;
  trainer?: TrainerState;
}

/**
 * Reads what saveCheckpoint wrote (optimizer and trainer state only when present). When a save
 * was interrupted, the newest complete checkpoint is restored at `dir` first (recoverFolder).
 */
export async function loadCheckpoint(dir: string): Promise<LoadedCheckpoint> {
  await recoverFolder(dir);
  const configPath = join(dir, CONFIG_FILE);
  if (!(await exists(configPath))) throw new TrainError(`loadCheckpoint: expected ${configPath}, found no such file`);
  const model = await openCheckpoint(checkpointFolder(dir));
  const out: LoadedCheckpoint = { config: model.config, tensors: await model.readAll() };
  const optimizerPath = join(dir, OPTIMIZER_FILE);
  if (await exists(optimizerPath)) {
    const raw = await readSafetensorsFileRaw(optimizerPath);
    const meta = raw.metadata?.meta;
    if (typeof meta !== "string")
      throw new TrainError(`loadCheckpoint: ${optimizerPath} has no "meta" metadata; expected the optimizer's step and groups`);
    out.optimizer = {
      tensors: await readSafetensorsFile(optimizerPath),
      meta: parseJson(meta, `${optimizerPath} metadata "meta"`) as OptimizerState["meta"],
    };
  }
  const trainerPath = join(dir, TRAINER_STATE_FILE);
  if (await exists(trainerPath)) out.trainer = parseJson(await readFile(trainerPath, "utf8"), trainerPath) as TrainerState;
  return out;
}

/** A model whose parameters can be overwritten by name (every @llm/layers Module can). */
export interface RestorableModel extends SavableModel {
  loadStateDict?(dict: Readonly<Record<string, Tensor>>): unknown;
}

export interface ResumeTargets {
  model: RestorableModel;
  optimizer?: Optimizer<object>;
  trainer?: { loadState(state: TrainerState): void };
}

/**
 * Puts a checkpoint back into live objects: model weights, optimizer state, trainer step, loss
 * history and data position; training then continues exactly as if it had never stopped.
 */
export async function resumeFromCheckpoint(dir: string, targets: ResumeTargets): Promise<LoadedCheckpoint> {
  const ckpt = await loadCheckpoint(dir);
  const { model } = targets;
  if (model.loadStateDict) model.loadStateDict(ckpt.tensors);
  else {
    const live = model.toCheckpoint().tensors;
    for (const [name, t] of Object.entries(ckpt.tensors)) {
      const p = live[name];
      if (!p) throw new TrainError(`resumeFromCheckpoint: ${dir} holds "${name}", which the model does not have`);
      p.assign(t);
    }
  }
  for (const t of Object.values(ckpt.tensors)) t.dispose();
  if (targets.optimizer) {
    if (!ckpt.optimizer) throw new TrainError(`resumeFromCheckpoint: expected ${join(dir, OPTIMIZER_FILE)}, found none`);
    targets.optimizer.loadState(ckpt.optimizer);
  }
  if (targets.trainer) {
    if (!ckpt.trainer) throw new TrainError(`resumeFromCheckpoint: expected ${join(dir, TRAINER_STATE_FILE)}, found none`);
    targets.trainer.loadState(ckpt.trainer);
  }
  return ckpt;
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new TrainError(`loadCheckpoint: ${where}: expected JSON, found a parse error (${(error as Error).message})`);
  }
}

function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
