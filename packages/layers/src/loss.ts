import { checkIndexRange, crossEntropyRows, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";

export interface CrossEntropyOptions {
  /** Targets equal to this are left out of the mean (e.g. -100, as torch). */
  ignoreIndex?: number;
}

/**
 * Mean cross-entropy of logits [..., vocab] against int32 targets [...] (torch's F.cross_entropy
 * with reduction "mean"). Differentiable through logits.
 */
export function crossEntropy(logits: Tensor, targets: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const vocab = logits.shape[logits.rank - 1]!;
  const batchShape = logits.shape.slice(0, -1);
  if (targets.dtype !== "int32" || targets.rank !== batchShape.length || targets.shape.some((d, i) => d !== batchShape[i])) {
    throw new LayerArgumentError(
      `crossEntropy: expected int32 targets of shape [${batchShape.join(",")}] for logits [${logits.shape.join(",")}], found ${targets.dtype} [${targets.shape.join(",")}]`,
    );
  }
  const { ignoreIndex } = options;
  const keep = ignoreIndex === undefined ? null : targets.ne(ignoreIndex);
  // Ignored targets pick class 0, then count for nothing.
  const safeTargets = keep ? targets.mul(keep.int()) : targets;
  checkIndexRange(safeTargets, vocab, (t) => `crossEntropy: target ${t} is outside the vocabulary [0, ${vocab})`);
  // -log p(target) per position, without the [..., vocab] log-probabilities where the backend fuses it
  const nll = crossEntropyRows(logits, safeTargets);
  if (!keep) return nll.mean();
  const weights = keep.float();
  return nll.mul(weights).sum().div(weights.sum().maximum(1));
}
