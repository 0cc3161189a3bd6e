import type { Backend } from "../backend.js";
import type { DType } from "../dtype.js";
import { getBackend } from "../engine.js";
import { fromBuffer } from "../ops/core.js";
import type { Tensor } from "../tensor.js";
import { safetensorsEntryToHost } from "./convert.js";
import type { SafetensorsDType } from "./dtypes.js";
import { SafetensorsError } from "./errors.js";
import type { SafetensorsParseOptions } from "./layout.js";
import { parseSafetensors, type ParsedSafetensors, type SafetensorsEntry } from "./parse.js";
import { serializeSafetensors, type SafetensorsRawTensor } from "./serialize.js";

export interface LoadSafetensorsOptions extends SafetensorsParseOptions {
  /**
   * "float32" widens F16/BF16 tensors to float32. Without it they load as float16/bfloat16. F64
   * always loads as float32 and integers as int32 (I64 values must fit), BOOL as bool.
   */
  dtype?: "float32";
  /** Where the tensors live (default: the current backend). */
  backend?: Backend;
}

/** Loads every tensor of a safetensors file held in memory. */
export function loadSafetensors(bytes: Uint8Array | ArrayBuffer, options: LoadSafetensorsOptions = {}): Record<string, Tensor> {
  return tensorsFromSafetensors(parseSafetensors(bytes, options), options);
}

/** Tensors for the entries of an already parsed file; on a failure, the ones made so far are freed. */
export function tensorsFromSafetensors(parsed: ParsedSafetensors, options: LoadSafetensorsOptions = {}): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  try {
    for (const [name, entry] of parsed.tensors) setTensor(out, name, tensorFromSafetensorsEntry(name, entry, options));
  } catch (error) {
    for (const t of Object.values(out)) t.dispose();
    throw error;
  }
  return out;
}

/**
 * One parsed tensor as a Tensor. Uploads the host array directly (the backend copies it, so views
 * of the file are safe): `tensor()` would copy it once more on the host first.
 */
export function tensorFromSafetensorsEntry(name: string, entry: SafetensorsEntry, options: LoadSafetensorsOptions = {}): Tensor {
  const { dtype, data } = safetensorsEntryToHost(entry, { dtype: options.dtype, source: options.source, key: name });
  const backend = options.backend ?? getBackend();
  return fromBuffer(backend, backend.upload(data, dtype), entry.shape, dtype);
}

/** defineProperty: a tensor named "__proto__" must become a key, not a prototype. */
export function setTensor(out: Record<string, Tensor>, name: string, t: Tensor): void {
  Object.defineProperty(out, name, { value: t, enumerable: true, writable: true, configurable: true });
}

// block-quantized tensors have no safetensors dtype: save them as GGUF, or dequantize first
const FILE_DTYPE: Partial<Record<DType, SafetensorsDType>> = {
  float32: "F32",
  int32: "I32",
  bool: "BOOL",
  float16: "F16",
  bfloat16: "BF16",
};

/**
 * Reads every tensor back to the host and writes a safetensors file (bytes as Python's
 * `safetensors` would write them). float16/bfloat16 stay 16-bit; int32 is written as I32.
 */
export async function saveSafetensors(
  tensors: Readonly<Record<string, Tensor>> | ReadonlyMap<string, Tensor>,
  metadata?: Readonly<Record<string, string>> | null,
): Promise<Uint8Array> {
  const named: [string, Tensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const entries = await Promise.all(
    named.map(async ([name, t]): Promise<[string, SafetensorsRawTensor]> => {
      const dtype = FILE_DTYPE[t.dtype];
      if (!dtype) {
        throw new SafetensorsError(
          "argument",
          { key: name },
          `expected a tensor of dtype ${Object.keys(FILE_DTYPE).join("/")}, found ${t.dtype} (quantized weights go to GGUF, or cast to float32 first)`,
        );
      }
      return [name, { dtype, shape: t.shape, data: await t.data() }];
    }),
  );
  return serializeSafetensors(new Map(entries), metadata);
}
