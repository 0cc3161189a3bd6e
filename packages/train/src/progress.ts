/** Where progress goes: a stream with write() (process.stderr in Node), isTTY when lines can be redrawn. */
export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
}

export interface ProgressUpdate {
  step: number;
  total: number;
  loss?: number;
  tokensPerSecond?: number;
  evalLoss?: number;
  etaSeconds?: number;
}

/**
 * A one-line progress bar: step, bar, loss, tokens/s, last eval, ETA. On a terminal the line is
 * redrawn in place; elsewhere (CI logs, pipes) a line is printed about every 10% instead.
 */
export class ProgressBar {
  private lastPrinted = -1;
  constructor(
    private readonly stream: ProgressStream | null = defaultStream(),
    private readonly width = 24,
  ) {}

  update(u: ProgressUpdate): void {
    if (!this.stream) return;
    const line = formatProgress(u, this.width);
    if (this.stream.isTTY) {
      this.stream.write(`\r\x1b[2K${line}`);
      if (u.step >= u.total) this.stream.write("\n");
      return;
    }
    const decile = Math.floor((10 * u.step) / Math.max(1, u.total));
    if (decile !== this.lastPrinted || u.step >= u.total) {
      this.lastPrinted = decile;
      this.stream.write(`${line}\n`);
    }
  }

  /** Prints a message on its own line without breaking the bar. */
  log(message: string): void {
    if (!this.stream) return;
    this.stream.write(this.stream.isTTY ? `\r\x1b[2K${message}\n` : `${message}\n`);
  }
}

export function formatProgress(u: ProgressUpdate, width = 24): string {
  const frac = Math.min(1, u.step / Math.max(1, u.total));
  const filled = Math.round(frac * width);
  const bar = "=".repeat(filled) + (filled < width ? `>${" ".repeat(width - filled - 1)}` : "");
  const parts = [`step ${u.step}/${u.total} [${bar}]`];
  if (u.loss !== undefined) parts.push(`loss ${u.loss.toFixed(4)}`);
  if (u.evalLoss !== undefined) parts.push(`eval ${u.evalLoss.toFixed(4)}`);
  if (u.tokensPerSecond !== undefined) parts.push(`${Math.round(u.tokensPerSecond).toLocaleString("en-US")} tok/s`);
  parts.push(`ETA ${formatDuration(u.etaSeconds ?? NaN)}`);
  return parts.join(" | ");
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

function defaultStream(): ProgressStream | null {
  const proc = (globalThis as { process?: { stderr?: ProgressStream } }).process;
  return proc?.stderr ?? null;
}
