// Shared by the property tests of tensor, tokenizer, models and sampling. Each generated
// input must end in a result the test checks, or in one of the package's own error types;
// anything else (a raw TypeError or RangeError, a stack overflow, a hang) fails the property. The
// tally is printed and written to out/fuzz/<name>.json, so docs/reliability.md can quote the
// counts of the last run.
import { mkdirSync, writeFileSync } from "node:fs";

/** Per input: this long at most. Not a speed claim: a guard against inputs that hang (minutes). */
export const TIME_BOUND_MS = 5000;

export interface Tally {
  readonly name: string;
  inputs: number;
  results: number;
  errors: Record<string, number>;
  slowestMs: number;
}

export function tally(name: string): Tally {
  return { name, inputs: 0, results: 0, errors: {}, slowestMs: 0 };
}

/**
 * Runs one input: `run` returns normally (a result it has checked) or throws. A throw must be one
 * of `ours` (matched by class), else it is rethrown and fast-check shrinks the input. The time is
 * checked against TIME_BOUND_MS. Every few inputs it lets the event loop run, so that a run of
 * thousands never holds the test worker for long (vitest's worker gives up on calls it cannot
 * answer within a minute).
 */
export async function outcome(t: Tally, ours: readonly ErrorClass[], run: () => unknown): Promise<void> {
  if (t.inputs % 25 === 0) await new Promise((resolve) => setImmediate(resolve));
  const started = performance.now();
  let error: unknown = null;
  try {
    await run();
  } catch (e) {
    error = e;
  }
  settle(t, ours, error, performance.now() - started);
}

type ErrorClass = abstract new (...args: never[]) => Error;

/** Counts one input's outcome; a foreign error or a slow input fails the property. */
function settle(t: Tally, ours: readonly ErrorClass[], error: unknown, ms: number): void {
  t.inputs++;
  t.slowestMs = Math.max(t.slowestMs, ms);
  if (ms > TIME_BOUND_MS) throw new Error(`${t.name}: one input took ${ms.toFixed(0)} ms, more than the ${TIME_BOUND_MS} ms bound`);
  if (error === null) {
    t.results++;
    return;
  }
  if (!ours.some((E) => error instanceof E)) throw error;
  const name = (error as Error).constructor.name;
  t.errors[name] = (t.errors[name] ?? 0) + 1;
}

/** Prints the tally and writes it to out/fuzz/<name>.json (from the repository root). */
export function report(t: Tally, seed: number): void {
  const line = { ...t, seed, slowestMs: Math.round(t.slowestMs * 10) / 10 };
  console.log(`property ${t.name}: ${JSON.stringify(line)}`);
  const dir = new URL("../../out/fuzz/", import.meta.url);
  mkdirSync(dir, { recursive: true });
  writeFileSync(new URL(`${t.name}.json`, dir), `${JSON.stringify(line, null, 2)}\n`);
}

/** The seed of every property run: fixed so a failure replays; FC_SEED explores others. */
export const SEED = process.env.FC_SEED ? Number(process.env.FC_SEED) : 20261205;
