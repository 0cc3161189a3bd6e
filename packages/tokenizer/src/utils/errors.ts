/**
 * The one error type this package throws. The message names the thing that is wrong
 * (file, key, argument), what was expected and what was found.
 */
export class TokenizerError extends Error {
  override name = "TokenizerError";
  constructor(message: string) {
    super(message);
  }
}

/** Short, printable description of a value for error messages. */
export function describe(value: unknown): string {
  if (value === undefined) return "undefined";
  if (value === null) return "null";
  if (typeof value === "string") return JSON.stringify(value.length > 60 ? `${value.slice(0, 60)}…` : value);
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  if (Array.isArray(value)) return `an array of length ${value.length}`;
  if (typeof value === "object") {
    const t = (value as { type?: unknown }).type;
    return typeof t === "string" ? `an object of type ${JSON.stringify(t)}` : "an object";
  }
  return typeof value;
}
