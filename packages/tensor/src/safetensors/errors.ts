import { TensorError } from "../errors.js";

/** What went wrong, so callers can branch without parsing messages. */
export type SafetensorsErrorCode =
  | "truncated"
  | "header-length"
  | "header-json"
  | "header-entry"
  | "unknown-dtype"
  | "shape"
  | "offsets"
  | "size-mismatch"
  | "value-range"
  | "conversion"
  | "argument"
  | "index";

/** Where the problem is: the file (when known) and the tensor key (when there is one). */
export interface SafetensorsErrorContext {
  source?: string | undefined;
  key?: string | undefined;
}

/**
 * A bad safetensors file or a bad argument to the reader/writer. The message names the file (when
 * known), the tensor key, what was expected and what was found.
 */
export class SafetensorsError extends TensorError {
  readonly code: SafetensorsErrorCode;
  readonly source: string | undefined;
  readonly key: string | undefined;

  constructor(code: SafetensorsErrorCode, context: SafetensorsErrorContext, problem: string) {
    const where = [context.source, context.key === undefined ? undefined : `tensor "${context.key}"`]
      .filter((part) => part !== undefined)
      .join(": ");
    super(`safetensors: ${where ? `${where}: ` : ""}${problem}`);
    this.code = code;
    this.source = context.source;
    this.key = context.key;
  }
}
