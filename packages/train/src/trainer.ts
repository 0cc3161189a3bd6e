import type { LanguageModel } from "@llm/layers";
import { keep, noGrad, tidy, type Tensor } from "@llm/tensor";
import { clipGradNorm } from "./clip.js";
import { TrainError, checkNumber } from "./errors.js";
import type { LossFn } from "./lm_loss.js";
import type { MetricsRecord } from "./metrics.js";
import type { Optimizer } from "./optim/optimizer.js";
import { ProgressBar } from "./progress.js";
import { constant, type Schedule } from "./schedule.js";

/** Where batches come from; state/restore (as TokenDataLoader has) make resuming exact. */
export interface BatchSource<B> {
  next(): B;
  state?(): unknown;
  restore?(state: never): void;
}

export interface TrainerOptions<B> {
  model: LanguageModel;
  optimizer: Optimizer<object>;
  data: BatchSource<B>;
  loss: LossFn<B>;
  totalSteps: number;
  schedule?: Schedule;
  /** Clip the global gradient norm to this before each update. */
  clipNorm?: number;
  /** Micro-batches per optimizer step; their gradients add up as if they were one batch (default 1). */
  accumulationSteps?: number;
  /** Tokens a batch holds, for tokens/s (default: batchSize x seqLen, or the size of its `ids`). */
  tokensIn?: (batch: B) => number;
  /** Mean held-out loss; run every evalEvery steps and after the last. */
  evaluate?: () => Promise<number>;
  evalEvery?: number;
  /** false: no progress output; default: a ProgressBar on stderr. */
  progress?: ProgressBar | false;
  /** Stop early once this many seconds have passed in run() (the schedule still assumes totalSteps). */
  maxSeconds?: number;
  /** Receives every step's figures (a MetricsLog writes them as JSON Lines), before onStep. */
  metrics?: { write(record: MetricsRecord): void | Promise<void> };
  /** Called after every step (checkpointing, logging). */
  onStep?: (result: StepResult, trainer: Trainer<B>) => void | Promise<void>;
}

export interface StepResult {
  step: number;
  loss: number;
  lr: number;
  tokens: number;
  gradNorm?: number;
}

/** What the trainer saves beside a checkpoint. */
export interface TrainerState {
  step: number;
  losses: number[];
  evals: { step: number; loss: number }[];
  data?: unknown;
}

/**
 * The training loop: per step, zero gradients, run accumulationSteps micro-batches (each loss scaled
 * by the step's total target count, so the sum is the mean over every target), clip, set the
 * scheduled learning rate, update; with progress, periodic evaluation, a loss history and, when
 * given a MetricsLog, a line of figures per step.
 */
export class Trainer<B> {
  step = 0;
  readonly losses: number[] = [];
  readonly evals: { step: number; loss: number }[] = [];
  private readonly options: TrainerOptions<B>;
  private readonly progress: ProgressBar | null;

  constructor(options: TrainerOptions<B>) {
    checkNumber("Trainer", "totalSteps", options.totalSteps, (v) => Number.isInteger(v) && v >= 0, "an integer >= 0");
    const acc = options.accumulationSteps ?? 1;
    checkNumber("Trainer", "accumulationSteps", acc, (v) => Number.isInteger(v) && v >= 1, "an integer >= 1");
    this.options = options;
    this.progress = options.progress === false ? null : (options.progress ?? new ProgressBar());
  }

  /** One optimizer step; returns the mean loss over its micro-batches. */
  async trainStep(): Promise<StepResult> {
    const { model, optimizer, data, loss } = this.options;
    const acc = this.options.accumulationSteps ?? 1;
    const batches = Array.from({ length: acc }, () => data.next());
    const tokensIn = this.options.tokensIn ?? defaultTokens;
    optimizer.zeroGrad();
    const parts = batches.map((b) => ({ batch: b, tokens: tokensIn(b) }));
    let lossSum = 0;
    let count = 0;
    for (const { batch } of parts) {
      // Each micro-batch's graph is freed by its backward before the next forward.
      const { sum, count: n } = tidy(() => loss(model, batch));
      tidy(() => (acc === 1 ? sum.div(Math.max(n, 1)) : sum).backward());
      lossSum += await sum.item();
      sum.dispose();
      count += n;
    }
    if (count === 0) throw new TrainError(`Trainer: step ${this.step} has no targets to learn from (every target is masked or ignored)`);
    // Gradients of the summed losses / all targets = gradient of the mean over the whole step.
    if (acc > 1) scaleGradients(optimizer.parameters, 1 / count);
    let gradNorm: number | undefined;
    if (this.options.clipNorm !== undefined) {
      const norm = clipGradNorm(optimizer.parameters, this.options.clipNorm);
      gradNorm = await norm.item();
      norm.dispose();
    }
    const factor = (this.options.schedule ?? constant)(this.step);
    for (const g of optimizer.groups) g.lr = g.baseLr * factor;
    optimizer.step();
    optimizer.zeroGrad();
    this.step++;
    const result: StepResult = {
      step: this.step,
      loss: lossSum / count,
      lr: optimizer.groups[0]!.lr,
      tokens: parts.reduce((a, p) => a + p.tokens, 0),
      ...(gradNorm !== undefined ? { gradNorm } : {}),
    };
    this.losses.push(result.loss);
    return result;
  }

  /** Trains until `totalSteps` (or `until`), from wherever the trainer stands. */
  async run(until = this.options.totalSteps): Promise<TrainerState> {
    const total = this.options.totalSteps;
    const started = Date.now();
    const startStep = this.step;
    let tokens = 0;
    const deadline = this.options.maxSeconds === undefined ? Infinity : started + this.options.maxSeconds * 1000;
    while (this.step < until && Date.now() < deadline) {
      const stepStarted = performance.now();
      const r = await this.trainStep();
      const stepSeconds = (performance.now() - stepStarted) / 1000;
      tokens += r.tokens;
      const evalEvery = this.options.evalEvery;
      let evalLoss: number | undefined;
      if (this.options.evaluate && ((evalEvery && this.step % evalEvery === 0) || this.step === total)) {
        const loss = await this.options.evaluate();
        evalLoss = loss;
        this.evals.push({ step: this.step, loss });
        this.progress?.log(`step ${this.step}: train loss ${r.loss.toFixed(4)}, held-out loss ${loss.toFixed(4)}`);
      }
      const seconds = (Date.now() - started) / 1000;
      this.progress?.update({
        step: this.step,
        total,
        loss: r.loss,
        tokensPerSecond: tokens / Math.max(seconds, 1e-9),
        etaSeconds: Math.min((seconds / (this.step - startStep)) * (total - this.step), (deadline - Date.now()) / 1000),
        ...(this.evals.length ? { evalLoss: this.evals[this.evals.length - 1]!.loss } : {}),
      });
      await this.options.metrics?.write({
        step: r.step,
        loss: r.loss,
        lr: r.lr,
        ...(r.gradNorm !== undefined ? { gradNorm: r.gradNorm } : {}),
        tokensPerSecond: r.tokens / Math.max(stepSeconds, 1e-9),
        elapsedSeconds: seconds,
        ...(evalLoss !== undefined ? { evalLoss } : {}),
      });
      await this.options.onStep?.(r, this);
    }
    return this.state();
  }

  state(): TrainerState {
    const data = this.options.data.state?.();
    return { step: this.step, losses: [...this.losses], evals: [...this.evals], ...(data !== undefined ? { data } : {}) };
  }

  /** Continues from a saved state (the optimizer and model are restored separately). */
  loadState(state: TrainerState): void {
    this.step = state.step;
    this.losses.splice(0, this.losses.length, ...state.losses);
    this.evals.splice(0, this.evals.length, ...state.evals);
    if (state.data !== undefined) {
      if (!this.options.data.restore)
        throw new TrainError("Trainer.loadState: the state holds a data position but the batch source has no restore()");
      this.options.data.restore(state.data as never);
    }
  }
}

/** Tokens the model reads: batchSize x seqLen, or the size of an `ids` tensor (GLM batches). */
function defaultTokens(batch: unknown): number {
  const b = batch as { ids?: { size: number }; batchSize?: number; seqLen?: number };
  if (typeof b.batchSize === "number" && typeof b.seqLen === "number") return b.batchSize * b.seqLen;
  return typeof b.ids?.size === "number" ? b.ids.size : 0;
}

function scaleGradients(params: readonly Tensor[], factor: number): void {
  noGrad(() => {
    for (const p of params) {
      if (!p.grad) continue;
      const scaled = keep(tidy(() => p.grad!.mul(factor)));
      p.grad.dispose();
      p.grad = scaled;
    }
  });
}
