import { assertLittleEndianHost, asBytes } from "./bytes.js";
import type { SafetensorsDType } from "./dtypes.js";
import { parseSafetensorsLayout, type SafetensorsParseOptions } from "./layout.js";

/** One tensor of a parsed file: its bytes are a view into the file's buffer, not a copy. */
export interface SafetensorsEntry {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
  readonly bytes: Uint8Array;
}

export interface ParsedSafetensors {
  /** The `__metadata__` string map, or null when the header has none. */
  readonly metadata: Readonly<Record<string, string>> | null;
  /** Tensors in data order (by offset), keyed by name. */
  readonly tensors: ReadonlyMap<string, SafetensorsEntry>;
}

/** Parses a whole safetensors file held in memory. Tensor bytes stay views of `data`. */
export function parseSafetensors(data: Uint8Array | ArrayBuffer, options: SafetensorsParseOptions = {}): ParsedSafetensors {
  assertLittleEndianHost();
  const bytes = asBytes(data);
  const layout = parseSafetensorsLayout(bytes, bytes.length, options);
  const tensors = new Map<string, SafetensorsEntry>();
  for (const [name, { dtype, shape, begin, end }] of layout.tensors) {
    tensors.set(name, { dtype, shape, bytes: bytes.subarray(layout.dataStart + begin, layout.dataStart + end) });
  }
  return { metadata: layout.metadata, tensors };
}
