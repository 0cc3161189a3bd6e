import { StateDictError, type ShapeMismatch } from "@llm/layers";
import {
  CheckpointFileError,
  getBackend,
  isFloating,
  openCheckpoint,
  readCheckpointConfig,
  SafetensorsError,
  type Backend,
  type Checkpoint,
  type DType,
  type CheckpointFiles,
  type Tensor,
} from "@llm/tensor";
import type { Model } from "./architecture.js";
import type { RawConfig } from "./config.js";
import { CheckpointError, ModelConfigError, ModelError } from "./errors.js";
import { converted, halfAlongAxis } from "./quantize.js";
import { WEIGHT_DTYPES, weightDType, weightRoles, type WeightDType } from "./weight_dtypes.js";
import { matchCheckpointKeys } from "./keys.js";
import { estimateParameterBytes, holdingFor } from "./limits.js";
import { architectureFor } from "./registry.js";

export interface LoadModelOptions {
  /** Where the weights go (default: the current backend); they are read straight onto it. */
  backend?: Backend;
  /**
   * The dtype weights are kept in (default "auto": as the file stores them, so a float16 checkpoint
   * stays half-size; norms and biases are float32 always). "float32" widens all (for training);
   * "float16" / "bfloat16" / "q8_0" / "q4_0" / "q6_k" convert the matrices as they are read, one at a time
   * (see weightDType for which weights: llama.cpp's defaults). Weights not float32 are not trained.
   */
  dtype?: WeightDType;
  /**
   * Refuse a config whose parameters would take more bytes than this, before reading any weight:
   * counted as float32 for "auto" and "float32", in the dtype's size otherwise (default: this
   * machine's memory; Infinity: no limit).
   */
  maxParameterBytes?: number;
  /**
   * Refuse weights that hold NaN or an infinity (a CheckpointError naming the tensor and element):
   * one pass over each tensor while it is on the host anyway. Default: on for models of up to
   * FINITE_CHECK_DEFAULT_BYTES of float32 parameters, off above.
   */
  checkFinite?: boolean;
}

/** Models up to this many bytes of float32 parameters (a billion parameters) get the finite check by default. */
export const FINITE_CHECK_DEFAULT_BYTES = 4e9;

/** safetensors dtypes a float32 parameter can take (halves and F64 are converted as they are read). */
const FLOAT_FILE_DTYPES = new Set(["F32", "F16", "BF16", "F64"]);

/**
 * Loads a checkpoint folder (config.json plus model.safetensors, or shards and their index) from
 * wherever `files` reads it: a folder on disk (@llm/models/node's loadModel), bytes in memory, a
 * server. Every name and shape is checked against the model before any tensor data is read; then
 * each tensor is read into the array that stays the parameter's, in the dtype options.dtype picks
 * for it (see weightDType: as stored by default; quantized tensors are converted one at a time),
 * so the model holds its weights once.
 */
export async function loadModelFrom(files: CheckpointFiles, options: LoadModelOptions = {}): Promise<Model> {
  // an unknown model_type (or a bad config) fails before any weight file is opened
  const config = await withOurErrors(() => readCheckpointConfig(files));
  const backend = options.backend ?? getBackend();
  const dtype = options.dtype ?? "auto";
  if (!WEIGHT_DTYPES.includes(dtype))
    throw new ModelError(`loadModel: dtype must be one of ${WEIGHT_DTYPES.join(", ")}, found ${String(dtype)}`);
  const model = namingTheFolder(files.location, () =>
    architectureFor(config).create(config, { backend, maxParameterBytes: options.maxParameterBytes, holding: holdingFor(dtype) }),
  );
  const checkpoint = await withOurErrors(() => openCheckpoint(files, config));
  try {
    const sources = planLoad(model, checkpoint, files.location);
    const checkFinite = options.checkFinite ?? estimateParameterBytes(model) <= FINITE_CHECK_DEFAULT_BYTES;
    const roles = weightRoles(model);
    const modelType = String(config.model_type ?? "");
    for (const [name, param] of model.namedParameters()) {
      const source = sources.get(name)!;
      const role = roles.get(param)!;
      const stored = fileDType(checkpoint.tensors.get(source)!.dtype);
      const target = weightDType(role, dtype, stored, role.axis < 0 ? 0 : param.shape[role.axis]!, modelType);
      // float32 targets widen halves while reading; others read the file's own dtype and convert that
      const read = await checkpoint.readTensor(source, {
        dtype: target === "float32" || stored === "float32" ? "float32" : undefined,
        backend,
        checkFinite,
      });
      if (read.dtype === target) {
        if (target === "float32") param.adopt(read);
        else if (target === "float16" || target === "bfloat16") {
          const laidOut = halfAlongAxis(read, role.axis);
          param.replaceWith(laidOut);
          if (laidOut !== read) read.dispose();
        } else param.replaceWith(read);
      } else {
        const value = await converted(read, target, role.axis);
        read.dispose();
        param.replaceWith(value);
      }
    }
  } catch (error) {
    model.dispose();
    if (error instanceof SafetensorsError && error.code === "value-range") throw new CheckpointError(error.message);
    throw error;
  }
  return model.eval();
}

/** Runs fn; a config error it throws names the folder the config came from. */
function namingTheFolder<T>(location: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof ModelConfigError) throw new ModelConfigError(`${location}: ${error.message}`);
    throw error;
  }
}

/** A folder that is not a checkpoint, or a config.json that is not one, as our error types. */
async function withOurErrors<T>(read: () => Promise<T>): Promise<T> {
  try {
    return await read();
  } catch (error) {
    if (error instanceof CheckpointFileError) {
      throw error.code === "bad-config" ? new ModelConfigError(error.message) : new CheckpointError(error.message);
    }
    throw error;
  }
}

/** Parameter -> file tensor, after checking every name, shape and dtype (one error naming them all). */
function planLoad(model: Model, checkpoint: Checkpoint, source: string): Map<string, string> {
  const architecture = architectureFor(checkpoint.config);
  const match = matchCheckpointKeys(model, checkpoint.tensors.keys(), architecture.keys);
  const mismatched: ShapeMismatch[] = [];
  for (const [name, param] of model.namedParameters()) {
    const info = checkpoint.tensors.get(match.sources.get(name) ?? "");
    if (info && !sameShape(info.shape, param.shape)) mismatched.push({ key: name, expected: param.shape, found: info.shape });
  }
  if (match.missing.length || match.unexpected.length || mismatched.length) {
    const problem = new StateDictError(match.missing, match.unexpected, mismatched, source);
    throw new CheckpointError(`${problem.message} (model_type "${architecture.modelType}")`);
  }
  for (const file of match.sources.values()) {
    const dtype = checkpoint.tensors.get(file)!.dtype;
    if (!FLOAT_FILE_DTYPES.has(dtype))
      throw new CheckpointError(`${source}: tensor "${file}": expected a floating-point dtype (F32, F16, BF16, F64), found ${dtype}`);
  }
  return new Map(match.sources);
}

/**
 * Builds the model `config` describes from tensors already in memory (checkpoint names, any float
 * dtype: float16/bfloat16 are widened to float32). Missing, unexpected and mis-shaped tensors throw
 * one CheckpointError naming each. The tensors are copied, and stay the caller's; with
 * `take: true` they move into the model instead (no copy) and are disposed.
 */
export function modelFromCheckpoint(
  config: RawConfig,
  tensors: Readonly<Record<string, Tensor>>,
  source = "checkpoint",
  options: { take?: boolean; backend?: Backend; maxParameterBytes?: number } = {},
): Model {
  const architecture = architectureFor(config);
  const model = architecture.create(config, { backend: options.backend, maxParameterBytes: options.maxParameterBytes });
  const match = matchCheckpointKeys(model, Object.keys(tensors), architecture.keys);
  const named: Record<string, Tensor> = {};
  for (const [name, file] of match.sources) named[name] = tensors[file]!;
  for (const key of match.unexpected) named[key] = tensors[key]!;
  try {
    for (const [name, t] of Object.entries(named)) {
      if (!isFloating(t.dtype))
        throw new CheckpointError(`${source}: tensor "${name}": expected a floating-point tensor, found ${t.dtype}`);
    }
    model.loadStateDict(named, { source, take: options.take });
  } catch (error) {
    model.dispose();
    if (error instanceof StateDictError) throw new CheckpointError(`${error.message} (model_type "${architecture.modelType}")`);
    throw error;
  }
  return model.eval();
}

/** Our dtype for a safetensors dtype of a float weight (F64 is read as float32). */
function fileDType(dtype: string): DType {
  return dtype === "F16" ? "float16" : dtype === "BF16" ? "bfloat16" : "float32";
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
