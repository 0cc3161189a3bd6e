import { previewJson, Rng } from "@llm/tensor";
import { TrainError, checkNumber } from "./errors.js";

/** A language-modeling batch on the host: inputs and next-token targets, both [batchSize, seqLen]. */
export interface TokenBatch {
  readonly inputs: Int32Array;
  readonly targets: Int32Array;
  readonly batchSize: number;
  readonly seqLen: number;
}

export interface TokenLoaderOptions {
  batchSize: number;
  /** Tokens per row; each row reads seqLen + 1 consecutive tokens (targets are inputs shifted by one). */
  seqLen: number;
  seed?: number;
  /** Shuffle windows each epoch (default true); false reads the stream in order. */
  shuffle?: boolean;
}

/** Where a loader stands: restoring it resumes with exactly the batches that would have come next. */
export interface LoaderState {
  epoch: number;
  batch: number;
}

/**
 * Batches of windows over one token stream. Each epoch cuts the stream into non-overlapping windows
 * of seqLen + 1 tokens starting at a random offset and visits them in a random order; both come
 * from (seed, epoch) alone, so the order never depends on how many batches were read before a resume.
 */
export class TokenDataLoader {
  readonly batchSize: number;
  readonly seqLen: number;
  readonly seed: number;
  readonly shuffle: boolean;
  private readonly tokens: Int32Array;
  private epoch = 0;
  private batch = 0;
  private order: number[] = [];

  constructor(tokens: ArrayLike<number>, options: TokenLoaderOptions) {
    const { batchSize, seqLen } = options;
    checkNumber("TokenDataLoader", "batchSize", batchSize, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
    checkNumber("TokenDataLoader", "seqLen", seqLen, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
    this.tokens = Int32Array.from(tokens);
    this.batchSize = batchSize;
    this.seqLen = seqLen;
    this.seed = options.seed ?? 0;
    this.shuffle = options.shuffle ?? true;
    // One window is always left out to make room for the random offset.
    if (this.tokens.length < (batchSize + 1) * (seqLen + 1)) {
      throw new TrainError(
        `TokenDataLoader: a stream of ${this.tokens.length} tokens is too short for batches of ${batchSize} x ${seqLen + 1}; need at least ${(batchSize + 1) * (seqLen + 1)}`,
      );
    }
    this.order = this.epochOrder(0);
  }

  /** Full batches per epoch (the windows of an incomplete last batch are skipped). */
  get batchesPerEpoch(): number {
    return Math.floor(this.windowCount / this.batchSize);
  }

  private get windowCount(): number {
    return Math.floor(this.tokens.length / (this.seqLen + 1)) - 1;
  }

  private epochOrder(epoch: number): number[] {
    const span = this.seqLen + 1;
    const rng = new Rng((this.seed * 1000003 + epoch) >>> 0);
    const offset = this.shuffle ? rng.int(span) : 0;
    const starts = Array.from({ length: this.windowCount }, (_, k) => offset + k * span);
    return this.shuffle ? rng.shuffle(starts) : starts;
  }

  next(): TokenBatch {
    if (this.batch >= this.batchesPerEpoch) {
      this.epoch++;
      this.batch = 0;
      this.order = this.epochOrder(this.epoch);
    }
    const { batchSize: b, seqLen: t } = this;
    const inputs = new Int32Array(b * t);
    const targets = new Int32Array(b * t);
    for (let r = 0; r < b; r++) {
      const start = this.order[this.batch * b + r]!;
      inputs.set(this.tokens.subarray(start, start + t), r * t);
      targets.set(this.tokens.subarray(start + 1, start + t + 1), r * t);
    }
    this.batch++;
    return { inputs, targets, batchSize: b, seqLen: t };
  }

  state(): LoaderState {
    return { epoch: this.epoch, batch: this.batch };
  }

  restore(state: LoaderState): void {
    if (
      !Number.isInteger(state.epoch) ||
      !Number.isInteger(state.batch) ||
      state.epoch < 0 ||
      state.batch < 0 ||
      state.batch > this.batchesPerEpoch
    ) {
      throw new TrainError(
        `TokenDataLoader.restore: expected { epoch >= 0, batch in [0, ${this.batchesPerEpoch}] }, got ${previewJson(state)}`,
      );
    }
    this.epoch = state.epoch;
    this.batch = state.batch;
    this.order = this.epochOrder(state.epoch);
  }

  /** Every window of the stream once, in order, in batches (the last may be smaller): for evaluation. */
  *sequential(): Generator<TokenBatch> {
    const t = this.seqLen;
    const count = Math.floor((this.tokens.length - 1) / t);
    for (let first = 0; first < count; first += this.batchSize) {
      const b = Math.min(this.batchSize, count - first);
      const inputs = new Int32Array(b * t);
      const targets = new Int32Array(b * t);
      for (let r = 0; r < b; r++) {
        const start = (first + r) * t;
        inputs.set(this.tokens.subarray(start, start + t), r * t);
        targets.set(this.tokens.subarray(start + 1, start + t + 1), r * t);
      }
      yield { inputs, targets, batchSize: b, seqLen: t };
    }
  }
}
