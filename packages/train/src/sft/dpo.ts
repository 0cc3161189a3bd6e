import type { LanguageModel } from "@llm/layers";
import { noGrad, Rng, stack, tensor, tidy, zerosLike, type Tensor } from "@llm/tensor";
import { checkNumber, TrainError } from "../errors.js";
import type { LossSum } from "../lm_loss.js";
import type { BatchSource } from "../trainer.js";
import { collateSft, sftTensors, type SftBatch } from "./batch.js";
import { IGNORE_INDEX, packExamples } from "./pack.js";
import type { TokenizedPair } from "./preference.js";

/** n pairs as 2n padded rows: the chosen sequences, then the rejected ones (one forward for both, as TRL does). */
export interface DpoBatch {
  readonly rows: SftBatch;
  readonly pairs: number;
  /** Precomputed reference log-probabilities [chosen..., rejected...], when every pair has them. */
  readonly reference: Float64Array | null;
}

/** Pads pairs into one batch; rows are as long as the longest sequence (or seqLen). */
export function collateDpo(pairs: readonly TokenizedPair[], options: { padId: number; seqLen?: number }): DpoBatch {
  if (pairs.length === 0) throw new TrainError("collateDpo: expected at least one pair, got none");
  const sequences = [...pairs.map((p) => p.chosen), ...pairs.map((p) => p.rejected)];
  const seqLen = options.seqLen ?? Math.max(...sequences.map((s) => s.ids.length));
  const { rows } = packExamples(sequences, { seqLen, padId: options.padId, strategy: "none" });
  const known = pairs.every((p) => p.referenceChosen !== undefined && p.referenceRejected !== undefined);
  return {
    rows: collateSft(rows),
    pairs: pairs.length,
    reference: known ? Float64Array.from([...pairs.map((p) => p.referenceChosen!), ...pairs.map((p) => p.referenceRejected!)]) : null,
  };
}

/**
 * Sum of log p(token | earlier tokens) over each row's scored tokens (the response): [rows].
 * Differentiable through the model.
 */
export function sequenceLogProbs(model: LanguageModel, batch: SftBatch): Tensor {
  const t = sftTensors(batch);
  const logits = model.forward(t.ids, { positionIds: t.positionIds, attentionMask: t.attentionMask });
  const keep = t.targets.ne(IGNORE_INDEX);
  const safe = t.targets.mul(keep.int());
  const picked = logits.logSoftmax(-1).takeAlongAxis(safe.unsqueeze(-1), -1).squeeze(-1);
  return picked.mul(keep.float()).sum(1);
}

export interface DpoOptions {
  /** How far the policy may move from the reference (TRL's default 0.1). */
  beta?: number;
  /**
   * The frozen reference model (run without gradients). For a LoRA policy, the base alone:
   * `LoraAdapters.of(model).withoutAdapters()`. Leave out when the pairs carry precomputed
   * reference log-probabilities (precomputeReferenceLogProbs).
   */
  reference?: LanguageModel;
}

/** What one DPO evaluation measures, means over pairs. */
export interface DpoMetrics {
  loss: number;
  /** beta * (log pi(chosen) - log ref(chosen)). */
  chosenReward: number;
  rejectedReward: number;
  /** chosenReward - rejectedReward. */
  margin: number;
  /** Fraction of pairs with chosenReward > rejectedReward. */
  accuracy: number;
}

/**
 * DPO with the sigmoid loss (Rafailov et al. 2023; TRL's loss_type "sigmoid", no label smoothing):
 * -log sigmoid(beta * ((log pi(c) - log pi(r)) - (log ref(c) - log ref(r)))), summed over pairs
 * with the pair count, so the Trainer's mean is the mean over pairs.
 */
export function dpoLoss(model: LanguageModel, batch: DpoBatch, options: DpoOptions = {}): LossSum {
  const { logits } = dpoLogits(model, batch, options);
  return { sum: negLogSigmoid(logits).sum(), count: batch.pairs };
}

/** The Trainer's loss function for DPO batches. */
export function dpoObjective(options: DpoOptions = {}): (model: LanguageModel, batch: DpoBatch) => LossSum {
  beta(options);
  return (model, batch) => dpoLoss(model, batch, options);
}

/** DPO's loss, rewards, margin and accuracy over batches, without gradients. */
export async function evaluateDpo(model: LanguageModel, batches: Iterable<DpoBatch>, options: DpoOptions = {}): Promise<DpoMetrics> {
  const sums = { loss: 0, chosenReward: 0, rejectedReward: 0, accuracy: 0 };
  let pairs = 0;
  for (const batch of batches) {
    const values = noGrad(() =>
      tidy(() => {
        const { logits, chosenReward, rejectedReward } = dpoLogits(model, batch, options);
        return [negLogSigmoid(logits), chosenReward, rejectedReward];
      }),
    );
    const [loss, chosen, rejected] = await Promise.all(values.map((t) => t.data()));
    for (let i = 0; i < batch.pairs; i++) {
      sums.loss += loss![i]!;
      sums.chosenReward += chosen![i]!;
      sums.rejectedReward += rejected![i]!;
      sums.accuracy += chosen![i]! > rejected![i]! ? 1 : 0;
    }
    for (const t of values) t.dispose();
    pairs += batch.pairs;
  }
  if (pairs === 0) throw new TrainError("evaluateDpo: expected at least one pair, got none");
  const mean = (v: number) => v / pairs;
  return {
    loss: mean(sums.loss),
    chosenReward: mean(sums.chosenReward),
    rejectedReward: mean(sums.rejectedReward),
    margin: mean(sums.chosenReward - sums.rejectedReward),
    accuracy: mean(sums.accuracy),
  };
}

/**
 * Scores every pair's responses with the reference model once, so training needs no second model
 * in memory (TRL's precompute_ref_log_probs). Sets referenceChosen / referenceRejected.
 */
export async function precomputeReferenceLogProbs(
  reference: LanguageModel,
  pairs: TokenizedPair[],
  options: { padId: number; batchSize?: number },
): Promise<void> {
  const size = options.batchSize ?? 8;
  for (let i = 0; i < pairs.length; i += size) {
    const group = pairs.slice(i, i + size);
    const batch = collateDpo(group, { padId: options.padId });
    const logps = noGrad(() => tidy(() => sequenceLogProbs(reference, batch.rows)));
    const values = await logps.data();
    logps.dispose();
    group.forEach((p, k) => {
      p.referenceChosen = values[k]!;
      p.referenceRejected = values[group.length + k]!;
    });
  }
}

/** Batches of pairs, reshuffled each epoch from (seed, epoch). */
export class DpoBatches implements BatchSource<DpoBatch> {
  private epoch = 0;
  private index = 0;
  private order: number[];

  constructor(
    private readonly pairs: readonly TokenizedPair[],
    private readonly options: { batchSize: number; padId: number; seqLen?: number; seed?: number },
  ) {
    checkNumber("DpoBatches", "batchSize", options.batchSize, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
    if (pairs.length < options.batchSize)
      throw new TrainError(`DpoBatches: ${pairs.length} pairs are too few for batches of ${options.batchSize}`);
    this.order = this.epochOrder(0);
  }

  next(): DpoBatch {
    const size = this.options.batchSize;
    if (this.index + size > this.order.length) {
      this.epoch++;
      this.index = 0;
      this.order = this.epochOrder(this.epoch);
    }
    const picked = this.order.slice(this.index, this.index + size).map((i) => this.pairs[i]!);
    this.index += size;
    return collateDpo(picked, this.options);
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
    return new Rng((this.options.seed ?? 0) * 1_000_003 + epoch).shuffle(this.pairs.map((_, i) => i));
  }
}

/** beta * (policy log-ratio - reference log-ratio) per pair, with the implicit rewards. */
function dpoLogits(
  model: LanguageModel,
  batch: DpoBatch,
  options: DpoOptions,
): { logits: Tensor; chosenReward: Tensor; rejectedReward: Tensor } {
  const b = beta(options);
  const n = batch.pairs;
  const policy = sequenceLogProbs(model, batch.rows);
  let reference: Tensor;
  if (options.reference) {
    const ref = options.reference;
    reference = noGrad(() => sequenceLogProbs(ref, batch.rows));
  } else if (batch.reference) {
    reference = tensor(Float32Array.from(batch.reference));
  } else {
    throw new TrainError(
      "dpoLoss: expected a reference model (options.reference) or pairs with precomputed reference log-probabilities, found neither",
    );
  }
  const chosenReward = policy
    .slice(0, 0, n)
    .sub(reference.slice(0, 0, n))
    .mul(b);
  const rejectedReward = policy.slice(0, n).sub(reference.slice(0, n)).mul(b);
  return { logits: chosenReward.sub(rejectedReward), chosenReward, rejectedReward };
}

/**
 * -log sigmoid(x) = -log_softmax([x, 0])[0]: stable for any x, and exact where the policy equals the
 * reference (x = 0, the first step from a fresh LoRA), where max/abs formulations get the gradient wrong.
 */
function negLogSigmoid(x: Tensor): Tensor {
  return stack([x, zerosLike(x)], -1)
    .logSoftmax(-1)
    .slice(-1, 0, 1)
    .squeeze(-1)
    .neg();
}

function beta(options: DpoOptions): number {
  const b = options.beta ?? 0.1;
  checkNumber("dpoLoss", "beta", b, (v) => v > 0 && Number.isFinite(v), "a positive number");
  return b;
}
