/** A bad argument to a sampling function: the message names it, what was expected and what was found. */
export class SamplingError extends Error {
  override name = "SamplingError";
}

export function checkNumber(op: string, name: string, value: number, ok: (v: number) => boolean, expected: string): void {
  if (typeof value !== "number" || Number.isNaN(value) || !ok(value)) {
    throw new SamplingError(`${op}: ${name} must be ${expected}, got ${String(value)}`);
  }
}
