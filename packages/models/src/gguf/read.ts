import { getBackend, isQuantized, openGGUF, type Backend, type CheckpointFiles, type GGUFFile, type Tensor } from "@llm/tensor";
import type { Model } from "../architecture.js";
import { CheckpointError, ModelError } from "../errors.js";
import { converted } from "../quantize.js";
import { WEIGHT_DTYPES, weightDType, weightRoles, type WeightDType } from "../weight_dtypes.js";
import { architectureFor } from "../registry.js";
import { AS_FLOAT32, holdingFor, type ParameterHolding } from "../limits.js";
import { ConfigView, GGUF_ARCHITECTURES, MetadataView, ggufArchitectureNamed } from "./architectures.js";
import { translateName } from "./names.js";
import { ropeParametersFromFactors } from "./rope_freqs.js";
import { inverseOrder, permuteRows, rowOrder } from "./rows.js";

const ROPE_FREQS = "rope_freqs.weight";

export interface LoadGGUFOptions {
  backend?: Backend;
  /**
   * "auto" (default) keeps each weight in the type the file has (Q3_K, Q4_K, Q5_K, Q6_K, Q8_0, F16 ...);
   * "float32" widens all; "float16" / "bfloat16" / a block type / a mix (WeightDType) converts the float
   * weights as they are read, as loadModel does (weightDType). A weight the file already stores
   * quantized is not quantized again into another block type (an error names it): the errors would
   * compound.
   */
  dtype?: WeightDType;
  /**
   * Refuse a file whose weights, held as `dtype` says (as stored, for "auto"), would take more
   * bytes than this (default: this machine's memory; Infinity: no limit).
   */
  maxParameterBytes?: number;
}

export interface LoadedGGUF {
  readonly model: Model;
  /** The file's metadata (the tokenizer's among it: @llm/tokenizer's fromGGUFMetadata reads it). */
  readonly metadata: ReadonlyMap<string, unknown>;
}

/**
 * Loads a GGUF file as one of our models: general.architecture picks the architecture, its
 * metadata becomes the config.json we would read, and each tensor is read in the type it is
 * stored in, straight into the parameter (rows put back in our order, Conv1D weights as
 * [in, out] views of llama.cpp's [out, in]). An architecture, tensor or tensor type we do not
 * read is an error naming it.
 */
export async function loadGGUFFrom(files: CheckpointFiles, name: string, options: LoadGGUFOptions = {}): Promise<LoadedGGUF> {
  const file = await openGGUF(files, name);
  const source = file.source;
  const archName = file.metadata.get("general.architecture");
  const arch = typeof archName === "string" ? ggufArchitectureNamed(archName) : undefined;
  if (!arch) {
    throw new ModelError(
      `${source}: GGUF architecture ${JSON.stringify(archName)} is not one we read (we read ${[...new Set(GGUF_ARCHITECTURES.map((a) => a.ggufArch))].join(", ")})`,
    );
  }
  const embeddings = file.tensors.get("token_embd.weight");
  if (!embeddings) throw new CheckpointError(`${source}: expected a tensor "token_embd.weight", found none`);
  const meta = new MetadataView(arch.ggufArch, file.metadata, source);
  let config: Record<string, unknown>;
  try {
    config = arch.config(meta, (n) => file.tensors.has(n), embeddings.shape[0]!);
  } catch (error) {
    throw new ModelError((error as Error).message);
  }
  const dtype = options.dtype ?? "auto";
  if (!WEIGHT_DTYPES.includes(dtype))
    throw new ModelError(`loadGGUF: dtype must be one of ${WEIGHT_DTYPES.join(", ")}, found ${String(dtype)}`);
  const backend = options.backend ?? getBackend();
  // tensors that are configuration here, not weights: LLaMA's rope_freqs (Llama 3.1's rope bands)
  const consumed = new Set<string>();
  if (arch.ropeFreqs && file.tensors.has(ROPE_FREQS)) {
    config = { ...config, rope_parameters: await ropeFromFile(file, config, backend) };
    consumed.add(ROPE_FREQS);
  }
  const holding = dtype === "auto" ? heldAsStored(file) : holdingFor(dtype);
  const model = architectureFor(config).create(config, { backend, maxParameterBytes: options.maxParameterBytes, holding });
  try {
    await fill(model, file, arch, new ConfigView(config), dtype, backend, consumed);
  } catch (error) {
    model.dispose();
    throw error;
  }
  return { model: model.eval(), metadata: file.metadata };
}

/** The rope parameters a file's rope_freqs stands for (see rope_freqs.ts). */
async function ropeFromFile(file: GGUFFile, config: Record<string, unknown>, backend: Backend): Promise<Record<string, unknown>> {
  const read = await file.readTensor(ROPE_FREQS, { backend });
  const wide = read.cast("float32");
  const factors = Float32Array.from(wide.dataSync());
  if (wide !== read) wide.dispose();
  read.dispose();
  return ropeParametersFromFactors(factors, Number(config.rope_theta), Number(config.max_position_embeddings));
}

/**
 * The weights held as the file stores them, for the parameter budget: a 7B Q4_0 file needs 3.8 GB,
 * not 27 (every type is held as its bytes in the file).
 */
function heldAsStored(file: GGUFFile): ParameterHolding {
  let bytes = 0;
  let elements = 0;
  for (const t of file.tensors.values()) {
    bytes += t.end - t.begin;
    elements += t.shape.reduce((a, b) => a * b, 1);
  }
  return elements > 0 ? { bytesPerParameter: bytes / elements, as: "the file's dtypes" } : AS_FLOAT32;
}

async function fill(
  model: Model,
  file: GGUFFile,
  arch: NonNullable<ReturnType<typeof ggufArchitectureNamed>>,
  config: ConfigView,
  dtype: WeightDType,
  backend: Backend,
  consumed: ReadonlySet<string>,
): Promise<void> {
  const source = file.source;
  const params = model.namedParameters();
  const roles = weightRoles(model);
  const modelType = String(model.checkpointConfig().model_type ?? "");
  const sources = new Map<string, string>();
  const missing: string[] = [];
  for (const [name] of params) {
    const match = translateName(arch.tensors, name, "ours");
    if (!match || !file.tensors.has(match.name)) missing.push(match ? `${match.name} (our ${name})` : name);
    else sources.set(name, match.name);
  }
  const used = new Set(sources.values());
  const unexpected = [...file.tensors.keys()].filter((n) => !used.has(n) && !consumed.has(n));
  if (missing.length || unexpected.length) {
    throw new CheckpointError(
      `${source}: the ${arch.ggufArch} tensors do not match the model its metadata describes: ` +
        [missing.length ? `missing ${missing.join(", ")}` : "", unexpected.length ? `unexpected ${unexpected.join(", ")}` : ""]
          .filter(Boolean)
          .join("; "),
    );
  }
  for (const [name, param] of params) {
    const ggufName = sources.get(name)!;
    const info = file.tensors.get(ggufName)!;
    const rule = translateName(arch.tensors, name, "ours")!.rule;
    const expected = rule.transposed ? [param.shape[1]!, param.shape[0]!] : param.shape;
    if (info.shape.length !== expected.length || info.shape.some((d, i) => d !== expected[i])) {
      throw new CheckpointError(`${source}: tensor "${ggufName}": expected shape [${expected}] (from the metadata), found [${info.shape}]`);
    }
    let value: Tensor = await file.readTensor(ggufName, { backend });
    if (rule.offset !== undefined) {
      const back = value.sub(rule.offset);
      value.dispose();
      value = back;
    }
    if (rule.rows) {
      const ordered = await permuteRows(value, inverseOrder(rowOrder(rule.rows, arch.heads!(config))));
      value.dispose();
      value = ordered;
    }
    // the value is in the file's layout: a transposed (Conv1D) weight's blocks run along its other axis
    const role = roles.get(param)!;
    const axis = role.axis < 0 ? 0 : rule.transposed ? 1 - role.axis : role.axis;
    const target = dtype === "auto" ? value.dtype : weightDType(role, dtype, value.dtype, value.shape[axis] ?? 0, modelType);
    if (target !== value.dtype) {
      if (isQuantized(value.dtype) && isQuantized(target)) {
        throw new ModelError(
          `${source}: tensor "${ggufName}" is stored ${value.dtype}; dtype "${dtype}" would quantize it again as ${target} (load with "auto" or "float32", or convert from a float file)`,
        );
      }
      const wide = isQuantized(value.dtype) && target !== "float32" ? value.cast("float32") : value;
      const next = await converted(wide, target, axis);
      if (wide !== value) wide.dispose();
      value.dispose();
      value = next;
    }
    if (rule.transposed) {
      const view = value.transpose(0, 1); // [in, out] over llama.cpp's [out, in] rows: no copy
      param.replaceWith(view);
      value.dispose();
    } else if (value.dtype === "float32" && param.dtype === "float32") {
      param.adopt(value);
    } else {
      param.replaceWith(value);
    }
  }
}
