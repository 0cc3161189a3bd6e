import { crossEntropy } from "@llm/layers";
import { where, type Tensor } from "@llm/tensor";
import { TrainError, fmt } from "./errors.js";

export interface MaskedCrossEntropyOptions {
  /** Targets equal to this add nothing and are not counted (default -100, as torch). */
  ignoreIndex?: number;
  /** bool or 0/1 tensor shaped like targets: false/0 leaves a target out (GLM's Part A, padding). */
  mask?: Tensor;
  /** "mean" over counted targets (default; 0 when none count) or "sum" (for accumulating micro-batches). */
  reduction?: "mean" | "sum";
}

/**
 * @llm/layers' crossEntropy with a loss mask and a sum reduction: masked-out targets become the
 * ignore index, so the arithmetic stays the one implementation layers has.
 */
export function maskedCrossEntropy(logits: Tensor, targets: Tensor, options: MaskedCrossEntropyOptions = {}): Tensor {
  const { ignoreIndex = -100, mask, reduction = "mean" } = options;
  if (mask && (mask.rank !== targets.rank || mask.shape.some((d, i) => d !== targets.shape[i]))) {
    throw new TrainError(`maskedCrossEntropy: mask must have the targets' shape ${fmt(targets.shape)}, got ${fmt(mask.shape)}`);
  }
  if (reduction !== "mean" && reduction !== "sum")
    throw new TrainError(`maskedCrossEntropy: reduction must be "mean" or "sum", got ${String(reduction)}`);
  const counted = mask ? where(mask.dtype === "bool" ? mask : mask.ne(0), targets, ignoreIndex) : targets;
  const mean = crossEntropy(logits, counted, { ignoreIndex });
  return reduction === "mean" ? mean : mean.mul(counted.ne(ignoreIndex).float().sum());
}
