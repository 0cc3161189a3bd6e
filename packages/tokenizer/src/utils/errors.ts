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

/** The largest token id we accept anywhere (ids live in Int32Arrays; no real vocabulary comes near). */
export const MAX_TOKEN_ID = 2 ** 31 - 1;

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

/** How deep Sequences may nest in tokenizer.json (real files nest at most 2): deeper is an error, not a stack overflow. */
export const MAX_COMPONENT_NESTING = 16;

/** Throws when a component at `path` sits deeper than MAX_COMPONENT_NESTING Sequences. */
export function checkNesting(path: string, depth: number): void {
  if (depth > MAX_COMPONENT_NESTING)
    throw new TokenizerError(`${path}: expected Sequences nested at most ${MAX_COMPONENT_NESTING} deep, found deeper nesting`);
}
