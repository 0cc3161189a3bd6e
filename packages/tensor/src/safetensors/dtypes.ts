import { SafetensorsError, type SafetensorsErrorContext } from "./errors.js";

/**
 * The dtype names the safetensors format defines with a whole number of bytes per element, in the
 * order of the Rust crate's `Dtype` enum. The writer sorts tensors by this rank, descending, so the
 * order here decides the byte layout of every file we write.
 */
const DTYPE_ORDER = [
  "BOOL",
  "U8",
  "I8",
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "I16",
  "U16",
  "F16",
  "BF16",
  "I32",
  "U32",
  "F32",
  "C64",
  "F64",
  "I64",
  "U64",
] as const;

export type SafetensorsDType = (typeof DTYPE_ORDER)[number];

export const SAFETENSORS_DTYPES: readonly SafetensorsDType[] = DTYPE_ORDER;

const BYTE_SIZE: Record<SafetensorsDType, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  F8_E8M0: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  C64: 8,
  F64: 8,
  I64: 8,
  U64: 8,
};

const RANK = new Map<string, number>(DTYPE_ORDER.map((name, i) => [name, i]));

export function isSafetensorsDType(name: unknown): name is SafetensorsDType {
  return typeof name === "string" && RANK.has(name);
}

/** Bytes per element of a safetensors dtype. */
export function safetensorsDTypeSize(dtype: SafetensorsDType): number {
  return BYTE_SIZE[dtype];
}

/** The crate's enum position: the writer's primary sort key (descending). */
export function safetensorsDTypeRank(dtype: SafetensorsDType): number {
  return RANK.get(dtype)!;
}

/** Element count of a shape, checked to stay an exact integer. */
export function elementCount(shape: readonly number[], context: SafetensorsErrorContext): number {
  let n = 1;
  for (const dim of shape) n *= dim;
  if (!Number.isSafeInteger(n)) {
    throw new SafetensorsError("shape", context, `expected a shape with at most 2^53 elements, found [${shape.join(",")}]`);
  }
  return n;
}
