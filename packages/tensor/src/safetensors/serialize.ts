import { assertLittleEndianHost, asBytes } from "./bytes.js";
import { elementCount, isSafetensorsDType, safetensorsDTypeRank, safetensorsDTypeSize, type SafetensorsDType } from "./dtypes.js";
import { SafetensorsError } from "./errors.js";

/** A tensor to write: its raw little-endian bytes as `data` (any typed array) or `bytes`. */
export type SafetensorsRawTensor = {
  readonly dtype: SafetensorsDType;
  readonly shape: readonly number[];
} & ({ readonly data: ArrayBufferView } | { readonly bytes: Uint8Array });

export type SafetensorsRawTensors = Readonly<Record<string, SafetensorsRawTensor>> | ReadonlyMap<string, SafetensorsRawTensor>;

/**
 * Writes a safetensors file byte-identical to what the reference (Rust) crate writes, and so
 * Python's `safetensors.*.save_file`: tensors sorted by dtype (the crate's enum order, descending)
 * then by name; compact JSON with `__metadata__` first (only when given) and each tensor as
 * {"dtype","shape","data_offsets"}; the header padded with spaces to a multiple of 8 bytes.
 * Dtypes are kept as given, so parse -> serialize reproduces the file.
 */
export function serializeSafetensors(tensors: SafetensorsRawTensors, metadata?: Readonly<Record<string, string>> | null): Uint8Array {
  assertLittleEndianHost();
  const named: [string, SafetensorsRawTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  const entries = named.map(([name, tensor]) => checkTensor(name, tensor));
  entries.sort((a, b) => safetensorsDTypeRank(b.dtype) - safetensorsDTypeRank(a.dtype) || compareCodePoints(a.name, b.name));

  const parts: string[] = [];
  if (metadata != null) parts.push(`"__metadata__":${metadataJson(metadata)}`);
  let offset = 0;
  for (const { name, dtype, shape, bytes } of entries) {
    const end = offset + bytes.byteLength;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${dtype}","shape":[${shape.join(",")}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = new TextEncoder().encode(`{${parts.join(",")}}`);
  // Pad with spaces so the data starts 8-byte aligned, as the crate does.
  const headerLength = Math.ceil(json.length / 8) * 8;

  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLength);
  let position = 8 + headerLength;
  for (const { bytes } of entries) {
    out.set(bytes, position);
    position += bytes.byteLength;
  }
  return out;
}

interface CheckedTensor {
  name: string;
  dtype: SafetensorsDType;
  shape: readonly number[];
  bytes: Uint8Array;
}

function checkTensor(name: string, tensor: SafetensorsRawTensor): CheckedTensor {
  const context = { key: name };
  if (name === "__metadata__") {
    throw new SafetensorsError("argument", context, 'expected a tensor name, found the reserved key "__metadata__"');
  }
  const { dtype, shape } = tensor;
  if (!isSafetensorsDType(dtype)) {
    throw new SafetensorsError("unknown-dtype", context, `expected a safetensors dtype, found ${JSON.stringify(dtype)}`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError("shape", context, `expected shape to be an array of non-negative integers, found ${JSON.stringify(shape)}`);
  }
  const data = "bytes" in tensor ? tensor.bytes : tensor.data;
  const size = safetensorsDTypeSize(dtype);
  // A Float32Array labelled F16 could have the right byte count by accident: check the element width too.
  if (!(data instanceof Uint8Array) && "BYTES_PER_ELEMENT" in data && data.BYTES_PER_ELEMENT !== size) {
    throw new SafetensorsError(
      "argument",
      context,
      `expected data with ${size}-byte elements for ${dtype} (or a Uint8Array of raw bytes), found ${data.constructor.name}`,
    );
  }
  const bytes = asBytes(data);
  const expected = elementCount(shape, context) * size;
  if (bytes.byteLength !== expected) {
    throw new SafetensorsError(
      "size-mismatch",
      context,
      `expected ${expected} bytes for shape [${shape.join(",")}] x ${dtype}, found ${bytes.byteLength}`,
    );
  }
  return { name, dtype, shape, bytes };
}

function metadataJson(metadata: Readonly<Record<string, string>>): string {
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== "string") {
      throw new SafetensorsError("argument", { key: "__metadata__" }, `expected string values, found ${typeof value} at "${key}"`);
    }
  }
  return JSON.stringify(metadata);
}

/** Orders strings by Unicode code point, which is the crate's (UTF-8 byte) order; `<` compares UTF-16 units. */
export function compareCodePoints(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.codePointAt(i)!;
    const y = b.codePointAt(i)!;
    if (x !== y) return x - y;
    if (x > 0xffff) i++;
  }
  return a.length - b.length;
}
