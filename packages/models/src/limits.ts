import type { Module } from "@llm/layers";
import { isQuantized, QUANT_BLOCKS } from "@llm/tensor";
import { ModelConfigError } from "./errors.js";
import { isMix } from "./quant_mixes.js";
import type { WeightDType } from "./weight_dtypes.js";

/** The most elements one typed array (and so one parameter) can hold in V8. */
export const MAX_TENSOR_ELEMENTS = 2 ** 32;

/** Bytes the model's parameters take as float32, each tensor once (a tied head is the embedding). */
export function estimateParameterBytes(model: Module): number {
  let elements = 0;
  for (const [, p] of model.namedParameters()) elements += p.size;
  return elements * 4;
}

/**
 * How many bytes of parameters we agree to allocate when the caller does not say: this machine's
 * memory (Node's os.totalmem, a browser's navigator.deviceMemory), or no limit where neither is known.
 */
export function defaultParameterBudget(): number {
  const node = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = node?.getBuiltinModule?.("node:os") as { totalmem?: () => number } | undefined;
  const total = os?.totalmem?.();
  if (typeof total === "number" && total > 0) return total;
  const gib = (globalThis as { navigator?: { deviceMemory?: number } }).navigator?.deviceMemory;
  if (typeof gib === "number" && gib > 0) return gib * 2 ** 30;
  return Infinity;
}

/** How the parameters will be held, for the budget: bytes per parameter on average, and the dtype that names it. */
export interface ParameterHolding {
  readonly bytesPerParameter: number;
  /** "float32", "q4_0", "the file's dtypes" ... */
  readonly as: string;
}

export const AS_FLOAT32: ParameterHolding = { bytesPerParameter: 4, as: "float32" };

/**
 * How a loader asked for `dtype` holds the weights: float32 for "auto" and "float32" (a file's
 * halves may stay half: float32 is the bound), the dtype's own size for the others (the norms and
 * biases it leaves float32 are a sliver of any large model).
 */
export function holdingFor(dtype: WeightDType): ParameterHolding {
  if (dtype === "auto" || dtype === "float32") return AS_FLOAT32;
  // a mix is held at its larger types' size at most (Q6_K)
  if (isMix(dtype)) return { bytesPerParameter: QUANT_BLOCKS.q6_k.bytes / QUANT_BLOCKS.q6_k.elements, as: "q6_k" };
  if (isQuantized(dtype)) return { bytesPerParameter: QUANT_BLOCKS[dtype].bytes / QUANT_BLOCKS[dtype].elements, as: dtype };
  return { bytesPerParameter: 2, as: dtype };
}

/**
 * Refuses a model (built, with its parameters not yet allocated) that could not be held: one
 * parameter larger than a typed array, or all of them past `budget` bytes held as `holding` says
 * (float32 unless a loader knows it keeps them quantized or half). The error says how much it
 * would need, so a config that asks for a terabyte fails in microseconds, not after minutes.
 */
export function checkParameterBudget(
  model: Module,
  modelType: string,
  budget: number | undefined,
  holding: ParameterHolding = AS_FLOAT32,
): void {
  const limit = budget ?? defaultParameterBudget();
  if (!(typeof limit === "number" && limit > 0))
    throw new ModelConfigError(`maxParameterBytes must be a number of bytes > 0 (or Infinity), found ${String(budget)}`);
  const params = model.namedParameters();
  let elements = 0;
  for (const [, p] of params) elements += p.size;
  const bytes = Math.ceil(elements * holding.bytesPerParameter);
  if (bytes > limit) {
    throw new ModelConfigError(
      `${modelType} config: describes a model of ${elements.toExponential(3)} parameters, which needs ${bytes} bytes as ${holding.as} (${humanBytes(bytes)}), ` +
        `more than the ${limit} allowed (maxParameterBytes${budget === undefined ? ", by default this machine's memory" : ""})`,
    );
  }
  for (const [name, p] of params) {
    if (p.size > MAX_TENSOR_ELEMENTS) {
      throw new ModelConfigError(
        `${modelType} config: parameter "${name}" would be [${p.shape.join(",")}], ${p.size} elements: more than the ${MAX_TENSOR_ELEMENTS} one array can hold`,
      );
    }
  }
}

/** 2.05 TB, 512 MB: decimal units, as disks and downloads are sized. */
export function humanBytes(bytes: number): string {
  const units = ["B", "KB", "MB", "GB", "TB", "PB", "EB"];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(2)} ${units[unit]}`;
}
