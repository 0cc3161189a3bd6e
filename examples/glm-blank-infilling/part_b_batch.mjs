// Training batches that pay the output head only for Part B, where the loss is. collateGlm pads each
// row at its end, so Part B starts at a different column in every row and the head (2,048 logits a
// token, then the cross-entropy) runs over Part A too: about two thirds of this model's step. Here
// each row is padded before Part A instead, so every Part B starts at one column, and the forward
// keeps the logits of the columns from there on (logitsToKeep). The positions are explicit, so a
// shifted row computes exactly what it would unshifted; padding sees only itself and nobody sees it.
import { tensor } from "@llm/tensor";
import { maskedCrossEntropy } from "@llm/train";

/** Rows with Part A right-aligned at column `sep`; targets and lossMask cover the columns from `sep` on. */
export function collatePartB(examples, special, ignoreIndex = -100) {
  const sep = Math.max(...examples.map((e) => e.sep));
  const tail = Math.max(...examples.map((e) => e.inputIds.length - e.sep));
  const len = sep + tail;
  const b = examples.length;
  const ids = new Int32Array(b * len).fill(special.pad ?? 0);
  const pos = new Int32Array(b * 2 * len);
  const mask = new Uint8Array(b * len * len);
  const targets = new Int32Array(b * tail).fill(ignoreIndex);
  const lossMask = new Float32Array(b * tail);
  let count = 0;
  examples.forEach((e, r) => {
    const shift = sep - e.sep; // padding columns before this row's Part A
    const end = shift + e.inputIds.length;
    ids.set(e.inputIds, r * len + shift);
    pos.set(e.positions, r * 2 * len + shift);
    pos.set(e.blockPositions, r * 2 * len + len + shift);
    for (let q = 0; q < len; q++) {
      const row = r * len * len + q * len;
      if (q < shift || q >= end) {
        mask[row + q] = 1; // padding: itself only
        continue;
      }
      // Part A sees Part A; Part B sees Part A and Part B up to itself.
      for (let k = shift; k < end; k++) mask[row + k] = k < sep || k <= q ? 1 : 0;
    }
    targets.set(e.targets.slice(e.sep), r * tail);
    lossMask.set(e.lossMask.slice(e.sep), r * tail);
    count += e.lossMask.reduce((a, x) => a + x, 0);
  });
  return {
    ids: tensor(ids, { shape: [b, len], dtype: "int32" }),
    positionIds: tensor(pos, { shape: [b, 2, len], dtype: "int32" }),
    attentionMask: tensor(mask, { shape: [b, len, len], dtype: "bool" }),
    targets: tensor(targets, { shape: [b, tail], dtype: "int32" }),
    lossMask: tensor(lossMask, { shape: [b, tail] }),
    count,
    keep: tail,
  };
}

/** glmLoss over a collatePartB batch: the same sum over Part B targets, logits for Part B only. */
export function partBLoss(model, batch) {
  const logits = model.forward(batch.ids, { positionIds: batch.positionIds, attentionMask: batch.attentionMask, logitsToKeep: batch.keep });
  return { sum: maskedCrossEntropy(logits, batch.targets, { mask: batch.lossMask, reduction: "sum" }), count: batch.count };
}
