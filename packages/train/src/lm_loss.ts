import type { LanguageModel } from "@llm/layers";
import { noGrad, tensor, tidy, type Tensor } from "@llm/tensor";
import type { TokenBatch } from "./data.js";
import type { GlmBatch } from "./glm.js";
import { maskedCrossEntropy } from "./loss.js";

/** A loss as a sum over counted targets and their count, so micro-batches combine exactly. */
export interface LossSum {
  sum: Tensor;
  count: number;
}

export type LossFn<B> = (model: LanguageModel, batch: B) => LossSum;

/** Next-token cross-entropy for a TokenBatch. */
export function languageModelLoss(model: LanguageModel, batch: TokenBatch): LossSum {
  const shape = [batch.batchSize, batch.seqLen];
  const ids = tensor(batch.inputs, { shape, dtype: "int32" });
  const targets = tensor(batch.targets, { shape, dtype: "int32" });
  const logits = model.forward(ids);
  return { sum: maskedCrossEntropy(logits, targets, { reduction: "sum" }), count: batch.batchSize * batch.seqLen };
}

/** GLM's loss over Part B, with 2D positions and the Part A / Part B mask. */
export function glmLoss(model: LanguageModel, batch: GlmBatch): LossSum {
  const logits = model.forward(batch.ids, { positionIds: batch.positionIds, attentionMask: batch.attentionMask });
  return { sum: maskedCrossEntropy(logits, batch.targets, { mask: batch.lossMask, reduction: "sum" }), count: batch.count };
}

/** Mean loss per counted target over batches, without gradients (for evaluation). */
export async function evaluateLoss<B>(model: LanguageModel, batches: Iterable<B>, loss: LossFn<B>): Promise<number> {
  let sum = 0;
  let count = 0;
  for (const batch of batches) {
    const { sum: s, count: n } = noGrad(() => tidy(() => loss(model, batch)));
    sum += await s.item();
    s.dispose();
    count += n;
  }
  return count === 0 ? 0 : sum / count;
}
