import type { LanguageModel } from "@llm/layers";
import { Rng, tensor, type Tensor } from "@llm/tensor";
import { checkNumber, TrainError } from "../errors.js";
import type { LossSum } from "../lm_loss.js";
import { maskedCrossEntropy } from "../loss.js";
import type { BatchSource } from "../trainer.js";
import { IGNORE_INDEX, type PackedRow } from "./pack.js";

/**
 * Packed rows stacked on the host (tensors are made inside the loss, so the trainer's tidy scope
 * frees them with the step).
 */
export interface SftBatch {
  /** [batch * seq] token ids. */
  readonly ids: Int32Array;
  /** [batch * seq] next-token targets, IGNORE_INDEX where nothing is learned. */
  readonly targets: Int32Array;
  /** [batch * seq] positions, restarting at 0 with each example. */
  readonly positions: Int32Array;
  /** [batch * seq * seq]: 1 where query t may see key s (same example, s <= t). */
  readonly mask: Uint8Array;
  /** Targets the loss counts. */
  readonly count: number;
  readonly batchSize: number;
  readonly seqLen: number;
}

/** A batch as the tensors forward takes. */
export interface SftTensors {
  ids: Tensor;
  targets: Tensor;
  positionIds: Tensor;
  attentionMask: Tensor;
}

/** The block-diagonal causal mask of packed rows: true where a query may see a key. */
export function packedAttentionMask(rows: readonly PackedRow[]): Uint8Array {
  const seq = rows[0]?.segments.length ?? 0;
  const mask = new Uint8Array(rows.length * seq * seq);
  rows.forEach((row, b) => {
    for (let q = 0; q < seq; q++) {
      const base = (b * seq + q) * seq;
      // Keys of the query's own example, from its start up to the query.
      for (let k = q; k >= 0 && row.segments[k] === row.segments[q]; k--) mask[base + k] = 1;
    }
  });
  return mask;
}

/** Stacks packed rows into one batch. */
export function collateSft(rows: readonly PackedRow[]): SftBatch {
  if (rows.length === 0) throw new TrainError("collateSft: expected at least one row, got none");
  const seq = rows[0]!.ids.length;
  const stack = (pick: (r: PackedRow) => Int32Array) => {
    const out = new Int32Array(rows.length * seq);
    rows.forEach((r, i) => {
      const v = pick(r);
      if (v.length !== seq) throw new TrainError(`collateSft: every row must have ${seq} tokens, row ${i} has ${v.length}`);
      out.set(v, i * seq);
    });
    return out;
  };
  const targets = stack((r) => r.targets);
  return {
    ids: stack((r) => r.ids),
    targets,
    positions: stack((r) => r.positions),
    mask: packedAttentionMask(rows),
    count: targets.reduce((n, t) => n + (t === IGNORE_INDEX ? 0 : 1), 0),
    batchSize: rows.length,
    seqLen: seq,
  };
}

/** The batch's tensors (made on the current backend; inside a tidy scope they go with it). */
export function sftTensors(batch: SftBatch): SftTensors {
  const shape = [batch.batchSize, batch.seqLen];
  return {
    ids: tensor(batch.ids, { shape, dtype: "int32" }),
    targets: tensor(batch.targets, { shape, dtype: "int32" }),
    positionIds: tensor(batch.positions, { shape, dtype: "int32" }),
    attentionMask: tensor(batch.mask, { shape: [batch.batchSize, batch.seqLen, batch.seqLen], dtype: "bool" }),
  };
}

/** Cross-entropy over the trained tokens only (the assistant's, the completion's), as a sum and its count. */
export function sftLoss(model: LanguageModel, batch: SftBatch): LossSum {
  const t = sftTensors(batch);
  const logits = model.forward(t.ids, { positionIds: t.positionIds, attentionMask: t.attentionMask });
  return { sum: maskedCrossEntropy(logits, t.targets, { reduction: "sum" }), count: batch.count };
}

export interface SftBatchesOptions {
  batchSize: number;
  seed?: number;
}

/** Batches of packed rows, reshuffled each epoch from (seed, epoch) alone, so a resume continues exactly. */
export class SftBatches implements BatchSource<SftBatch> {
  private epoch = 0;
  private index = 0;
  private order: number[];
  private readonly seed: number;

  constructor(
    private readonly rows: readonly PackedRow[],
    private readonly options: SftBatchesOptions,
  ) {
    checkNumber("SftBatches", "batchSize", options.batchSize, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
    if (rows.length < options.batchSize)
      throw new TrainError(`SftBatches: ${rows.length} rows are too few for batches of ${options.batchSize}`);
    this.seed = options.seed ?? 0;
    this.order = this.epochOrder(0);
  }

  next(): SftBatch {
    const size = this.options.batchSize;
    if (this.index + size > this.order.length) {
      this.epoch++;
      this.index = 0;
      this.order = this.epochOrder(this.epoch);
    }
    const picked = this.order.slice(this.index, this.index + size).map((i) => this.rows[i]!);
    this.index += size;
    return collateSft(picked);
  }

  state(): { epoch: number; index: number } {
    return { epoch: this.epoch, index: this.index };
  }

  restore(state: { epoch: number; index: number }): void {
    this.epoch = state.epoch;
    this.index = state.index;
    this.order = this.epochOrder(state.epoch);
  }

  private epochOrder(epoch: number): number[] {
    return new Rng(this.seed * 1_000_003 + epoch).shuffle(this.rows.map((_, i) => i));
  }
}
