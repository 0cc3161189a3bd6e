/** A bad argument to a training function: the message names it, what was expected and what was found. */
export class TrainError extends Error {
  override name = "TrainError";
}

export function checkNumber(op: string, name: string, value: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof value !== "number" || Number.isNaN(value) || !ok(value)) {
    throw new TrainError(`${op}: ${name} must be ${expected}, got ${String(value)}`);
  }
}

export const fmt = (shape: readonly number[]): string => `[${shape.join(", ")}]`;
