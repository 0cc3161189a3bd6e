import { TrainError } from "./errors.js";

/** One training step's figures: a line of a metrics log. */
export interface MetricsRecord {
  step: number;
  /** mean training loss of the step */
  loss: number;
  /** learning rate of the first parameter group */
  lr: number;
  /** global gradient norm before clipping (when the trainer clips) */
  gradNorm?: number;
  /** tokens the step read per second of the step */
  tokensPerSecond: number;
  /** seconds since the run (this call of Trainer.run) began */
  elapsedSeconds: number;
  /** held-out loss, on the steps that were evaluated */
  evalLoss?: number;
}

/**
 * Writes metrics as JSON Lines (one JSON object per line), which plotting tools and a few lines of
 * any language read. Each record is appended as one whole line, so a crash leaves complete lines
 * (and at worst a torn last one, which parseMetrics skips). Where the lines go is up to `append`:
 * a file (`metricsFile` in `@llm/train/node`), an array, a network request. A NaN or infinite
 * figure (a diverged run) is written as null, since JSON has no such numbers; parseMetrics reads
 * it back as NaN.
 */
export class MetricsLog {
  constructor(private readonly append: (line: string) => void | Promise<void>) {}

  async write(record: MetricsRecord): Promise<void> {
    await this.append(`${JSON.stringify(record)}\n`);
  }
}

/**
 * The records of a metrics log's text. A last line that is cut short (a run that died while
 * writing it) is skipped; any other line that is not a JSON object with a numeric step and loss
 * is an error naming `source` and the line.
 */
export function parseMetrics(text: string, source = "metrics"): MetricsRecord[] {
  const lines = text.split("\n");
  const records: MetricsRecord[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    const last = i === lines.length - 1; // no newline after it: possibly torn
    let record: unknown;
    try {
      record = JSON.parse(line);
    } catch {
      if (last) return;
      throw new TrainError(
        `${source}: line ${i + 1} is not JSON; expected one JSON object per line, found ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    if (typeof record !== "object" || record === null || Array.isArray(record))
      throw new TrainError(`${source}: line ${i + 1} should be a JSON object, found ${line.slice(0, 80)}`);
    const r = record as Record<string, unknown>;
    for (const key of Object.keys(r)) if (r[key] === null) r[key] = NaN;
    if (typeof r.step !== "number" || typeof r.loss !== "number")
      throw new TrainError(`${source}: line ${i + 1} should have a numeric "step" and "loss", found ${line.slice(0, 80)}`);
    records.push(r as unknown as MetricsRecord);
  });
  return records;
}
