import { SamplingError } from "./errors.js";

/** Short, printable form of a value for messages: 5, "abc", null, an array of 3, a function. */
export function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (typeof v === "number" || typeof v === "boolean" || typeof v === "bigint") return String(v);
  if (typeof v === "function") return "a function";
  if (Array.isArray(v)) return `an array of ${v.length}`;
  return `a ${Object.prototype.toString.call(v).slice(8, -1)}`;
}

/**
 * The checks every option of a generation call goes through: an absent option is fine, a present
 * one must be what its doc says, else a SamplingError that names the call, the option, what was
 * expected and what was found. Nothing is coerced (a seed of "abc" is not 0).
 */
export class OptionChecker {
  constructor(
    private readonly op: string,
    private readonly options: object,
  ) {
    if (typeof options !== "object" || options === null || Array.isArray(options))
      throw new SamplingError(`${op}: options must be an object, found ${describeValue(options)}`);
  }

  private value(name: string): unknown {
    return (this.options as Record<string, unknown>)[name];
  }

  private fail(name: string, expected: string, found: unknown): never {
    throw new SamplingError(`${this.op}: option ${name} must be ${expected}, found ${describeValue(found)}`);
  }

  number(name: string, ok: (v: number) => boolean, expected: string): void {
    const v = this.value(name);
    if (v === undefined) return;
    if (typeof v !== "number" || Number.isNaN(v) || !ok(v)) this.fail(name, expected, v);
  }

  integer(name: string, min: number, max = Number.MAX_SAFE_INTEGER): void {
    const v = this.value(name);
    if (v === undefined) return;
    if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max)
      this.fail(name, max === Number.MAX_SAFE_INTEGER ? `an integer >= ${min}` : `an integer in [${min}, ${max}]`, v);
  }

  boolean(name: string): void {
    const v = this.value(name);
    if (v !== undefined && typeof v !== "boolean") this.fail(name, "true or false", v);
  }

  /** One of the given strings. */
  oneOf(name: string, values: readonly string[]): void {
    const v = this.value(name);
    if (v !== undefined && !values.includes(v as string))
      this.fail(
        name,
        values
          .map((x) => JSON.stringify(x))
          .join(", ")
          .replace(/, ([^,]*)$/, " or $1"),
        v,
      );
  }

  /** An array whose every item passes `ok`; the first that does not is named by its index. */
  array(name: string, ok: (item: unknown) => boolean, expected: string): void {
    const v = this.value(name);
    if (v === undefined) return;
    if (!Array.isArray(v)) this.fail(name, `an array of ${expected}`, v);
    (v as unknown[]).forEach((item, i) => {
      if (!ok(item)) this.fail(`${name}[${i}]`, expected, item);
    });
  }

  /** An object with the named methods (an Rng: uniform). */
  withMethods(name: string, methods: readonly string[], expected: string): void {
    const v = this.value(name);
    if (v === undefined) return;
    if (typeof v !== "object" || v === null || methods.some((m) => typeof (v as Record<string, unknown>)[m] !== "function"))
      this.fail(name, expected, v);
  }
}

/** Checks the options of SamplingOptions (temperature, topK, topP, minP, repetitionPenalty, processors, seed, rng). */
export function checkSamplingOptions(check: OptionChecker): void {
  check.number("temperature", (v) => v >= 0 && Number.isFinite(v), "a finite number >= 0 (0: greedy)");
  check.integer("topK", 1);
  check.number("topP", (v) => v > 0 && v <= 1, "a number in (0, 1]");
  check.number("minP", (v) => v >= 0 && v <= 1, "a number in [0, 1]");
  check.number("repetitionPenalty", (v) => v > 0 && Number.isFinite(v), "a finite number > 0");
  check.array("processors", (p) => typeof p === "function", "functions (logits, ids) => logits");
  check.integer("seed", Number.MIN_SAFE_INTEGER);
  check.withMethods("rng", ["uniform"], "an Rng (an object with uniform())");
}

/** A row of logits holds NaN or an infinity: the index of the first, or -1. `allowMinusInfinity`: -Infinity is a removed token. */
export function firstNonFinite(row: Float32Array, allowMinusInfinity: boolean): number {
  for (let i = 0; i < row.length; i++) {
    const x = row[i]!;
    if (x - x !== 0 && !(allowMinusInfinity && x === -Infinity)) return i;
  }
  return -1;
}

/** Throws when the model's logits for one row hold NaN or an infinity (a broken model, never a token to pick). */
export function checkModelLogits(op: string, row: Float32Array, step: number, row_: number): void {
  const bad = firstNonFinite(row, false);
  if (bad < 0) return;
  throw new SamplingError(
    `${op}: step ${step}: the model's logits for prompt ${row_} hold ${row[bad]} at token id ${bad}; expected finite values ` +
      "(the weights, the config's numbers or the input may hold NaN, or a value overflowed)",
  );
}
