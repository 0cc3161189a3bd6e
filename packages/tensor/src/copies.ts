import type { Backend } from "./backend.js";
import { TensorError } from "./errors.js";

// Set by the build (tsup `define`); absent when tests run the TypeScript sources.
declare const __LLM_TENSOR_VERSION__: string | undefined;
declare const __LLM_TENSOR_FORMAT__: string | undefined;

/** One loaded copy of @llm/tensor: its version, module format and CPU backend. */
export interface TensorCopy {
  readonly version: string;
  readonly format: string;
  readonly backend: Backend;
}

const REGISTRY = Symbol.for("@llm/tensor.copies");

function registry(): TensorCopy[] {
  const holder = globalThis as { [REGISTRY]?: TensorCopy[] };
  return (holder[REGISTRY] ??= []);
}

const describeCopy = (c: TensorCopy): string => `${c.version} (${c.format})`;

/**
 * Records this copy of @llm/tensor in a process-wide registry. Two copies hold two engines (two
 * CPU backends, two sets of tidy scopes), and tensors of one are foreign to the other: an app
 * must have one tensor runtime, which is why every @llm package takes @llm/tensor as a peer
 * dependency. A second copy of another version, or of the same version and module format (a
 * duplicated install), is an error naming both. The ESM and CommonJS builds of one version may
 * both load (each format keeps its own state, as Node's dual packages do).
 */
export function registerCopy(backend: Backend): void {
  const version = typeof __LLM_TENSOR_VERSION__ === "string" ? __LLM_TENSOR_VERSION__ : null;
  const format = typeof __LLM_TENSOR_FORMAT__ === "string" ? __LLM_TENSOR_FORMAT__ : "source";
  if (version === null) return; // sources under test: module graphs are re-evaluated per test file
  const copies = registry();
  const self: TensorCopy = { version, format, backend };
  const clash = copies.find((c) => c.version !== version || c.format === format);
  if (clash) {
    throw new TensorError(
      `two copies of @llm/tensor are loaded: ${describeCopy(clash)} and ${describeCopy(self)}. An app must have one ` +
        `(every @llm package takes @llm/tensor as a peer dependency): install one version and let your package manager dedupe it`,
    );
  }
  copies.push(self);
}

/** Which loaded copy a backend belongs to, for error messages ("the 0.1.0 (esm) copy"). */
export function copyOf(backend: Backend): string | null {
  const copy = registry().find((c) => c.backend === backend);
  return copy ? describeCopy(copy) : null;
}
