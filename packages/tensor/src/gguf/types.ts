import type { DType } from "../dtype.js";
import { TensorError } from "../errors.js";

/** A GGUF file that cannot be read or written as asked: the message names the file, key or tensor. */
export class GGUFError extends TensorError {}

/** GGUF metadata value types (gguf_type), by name. */
export type GGUFScalarType =
  | "uint8"
  | "int8"
  | "uint16"
  | "int16"
  | "uint32"
  | "int32"
  | "float32"
  | "bool"
  | "string"
  | "uint64"
  | "int64"
  | "float64";

export const GGUF_TYPE_IDS: Record<GGUFScalarType | "array", number> = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
};

/** One metadata value with the GGUF type it is written as. */
export type GGUFValue =
  | { readonly type: Exclude<GGUFScalarType, "string" | "bool">; readonly value: number }
  | { readonly type: "string"; readonly value: string }
  | { readonly type: "bool"; readonly value: boolean }
  | { readonly type: "array"; readonly itemType: GGUFScalarType; readonly value: readonly (number | string | boolean)[] };

/** ggml_type ids of the tensor types, by GGUF's names (ggml.h). */
export const GGML_TYPE_NAMES: Readonly<Record<number, string>> = {
  0: "F32",
  1: "F16",
  2: "Q4_0",
  3: "Q4_1",
  6: "Q5_0",
  7: "Q5_1",
  8: "Q8_0",
  9: "Q8_1",
  10: "Q2_K",
  11: "Q3_K",
  12: "Q4_K",
  13: "Q5_K",
  14: "Q6_K",
  15: "Q8_K",
  16: "IQ2_XXS",
  17: "IQ2_XS",
  18: "IQ3_XXS",
  19: "IQ1_S",
  20: "IQ4_NL",
  21: "IQ3_S",
  22: "IQ2_S",
  23: "IQ4_XS",
  24: "I8",
  25: "I16",
  26: "I32",
  27: "I64",
  28: "F64",
  29: "IQ1_M",
  30: "BF16",
  34: "TQ1_0",
  35: "TQ2_0",
  39: "MXFP4",
};

/** The tensor types we hold, by ggml_type id (F64 is read as float32). */
export const GGML_TYPE_TO_DTYPE: Readonly<Record<number, DType>> = {
  0: "float32",
  1: "float16",
  2: "q4_0",
  3: "q4_1",
  6: "q5_0",
  7: "q5_1",
  8: "q8_0",
  10: "q2_k",
  11: "q3_k",
  12: "q4_k",
  13: "q5_k",
  14: "q6_k",
  16: "iq2_xxs",
  17: "iq2_xs",
  18: "iq3_xxs",
  19: "iq1_s",
  20: "iq4_nl",
  21: "iq3_s",
  22: "iq2_s",
  23: "iq4_xs",
  26: "int32",
  29: "iq1_m",
  30: "bfloat16",
};

/** The ggml_type id each dtype is written as: the inverse of GGML_TYPE_TO_DTYPE (one id per dtype there). */
export const DTYPE_TO_GGML_TYPE: Readonly<Partial<Record<DType, number>>> = Object.fromEntries(
  Object.entries(GGML_TYPE_TO_DTYPE).map(([id, dtype]) => [dtype, Number(id)]),
);

export const GGUF_MAGIC = 0x46554747; // "GGUF" little-endian
export const GGUF_DEFAULT_ALIGNMENT = 32;
