import type { DType, HostArray } from "../dtype.js";
import { SafetensorsError, type SafetensorsErrorContext } from "./errors.js";
import { bfloat16BitsToFloat32, float16BitsToFloat32 } from "./halves.js";
import type { SafetensorsEntry } from "./parse.js";

export interface SafetensorsHostOptions {
  /**
   * "float32" widens F16/BF16 to float32 values. Without it halves keep their 16-bit patterns as
   * float16/bfloat16. F64 always becomes float32 (there is no float64 host type); integer and
   * BOOL tensors are never turned into floats.
   */
  dtype?: "float32";
  /** Named in error messages. */
  source?: string;
  /** The tensor's name, named in error messages. */
  key?: string;
}

export interface SafetensorsHostData {
  dtype: DType;
  /** May be a view of the file's bytes (F32, I32, BOOL, unconverted halves, when aligned). */
  data: HostArray;
}

/**
 * Converts one parsed tensor to the host array of our dtype:
 * F32 -> float32; F16/BF16 -> float16/bfloat16 bits (or float32 on request); F64 -> float32;
 * I64/U64/U32 -> int32 (throws naming the tensor if a value does not fit); I32 -> int32;
 * I16/U16/I8/U8 -> int32; BOOL -> bool.
 */
export function safetensorsEntryToHost(entry: SafetensorsEntry, options: SafetensorsHostOptions = {}): SafetensorsHostData {
  const context: SafetensorsErrorContext = { source: options.source, key: options.key };
  const { bytes } = entry;
  switch (entry.dtype) {
    case "F32":
      return { dtype: "float32", data: typedView(bytes, Float32Array) };
    case "F16":
    case "BF16": {
      const bits = typedView(bytes, Uint16Array);
      if (options.dtype !== "float32") return { dtype: entry.dtype === "F16" ? "float16" : "bfloat16", data: bits };
      return {
        dtype: "float32",
        data: entry.dtype === "F16" ? float16BitsToFloat32(bits) : bfloat16BitsToFloat32(bits),
      };
    }
    case "F64":
      return { dtype: "float32", data: float64ToFloat32(typedView(bytes, Float64Array), context) };
    case "I32":
      return { dtype: "int32", data: typedView(bytes, Int32Array) };
    case "I16":
      return { dtype: "int32", data: Int32Array.from(typedView(bytes, Int16Array)) };
    case "U16":
      return { dtype: "int32", data: Int32Array.from(typedView(bytes, Uint16Array)) };
    case "I8":
      return { dtype: "int32", data: Int32Array.from(typedView(bytes, Int8Array)) };
    case "U8":
      return { dtype: "int32", data: Int32Array.from(bytes) };
    case "U32":
      return { dtype: "int32", data: narrowToInt32(typedView(bytes, Uint32Array), entry.dtype, context) };
    case "I64":
    case "U64":
      return { dtype: "int32", data: int64ToInt32(bytes, entry.dtype, context) };
    case "BOOL":
      return { dtype: "bool", data: bytes };
    default:
      throw new SafetensorsError(
        "conversion",
        context,
        `expected a dtype with a host type (F32, F16, BF16, F64, I64, U64, I32, U32, I16, U16, I8, U8, BOOL), found ${entry.dtype}`,
      );
  }
}

type TypedArrayConstructor<T> = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): T;
  new (length: number): T;
  readonly BYTES_PER_ELEMENT: number;
};

/** A typed view of the bytes; a copy only when the byte offset is not aligned for the element type. */
function typedView<T>(bytes: Uint8Array, Type: TypedArrayConstructor<T>): T {
  const length = bytes.byteLength / Type.BYTES_PER_ELEMENT;
  if (bytes.byteOffset % Type.BYTES_PER_ELEMENT === 0) return new Type(bytes.buffer, bytes.byteOffset, length);
  const aligned = new Uint8Array(bytes.byteLength);
  aligned.set(bytes);
  return new Type(aligned.buffer, 0, length);
}

function float64ToFloat32(values: Float64Array, context: SafetensorsErrorContext): Float32Array {
  const out = new Float32Array(values);
  for (let i = 0; i < out.length; i++) {
    // Rounding is the point of the conversion; turning a finite value into Infinity is not.
    if (!Number.isFinite(out[i]!) && Number.isFinite(values[i]!)) {
      throw new SafetensorsError(
        "value-range",
        context,
        `F64 -> float32: expected finite values within +-3.4028235e38, found ${values[i]} at element ${i}`,
      );
    }
  }
  return out;
}

function narrowToInt32(values: Uint32Array, dtype: string, context: SafetensorsErrorContext): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v > 0x7fffffff) throw outOfInt32(dtype, String(v), i, context);
    out[i] = v;
  }
  return out;
}

/** Reads 64-bit integers as 32-bit word pairs; a value fits int32 when its high word is the low word's sign. */
function int64ToInt32(bytes: Uint8Array, dtype: "I64" | "U64", context: SafetensorsErrorContext): Int32Array {
  const words = typedView(bytes, Int32Array);
  const out = new Int32Array(words.length / 2);
  for (let i = 0; i < out.length; i++) {
    const low = words[2 * i]!;
    const high = words[2 * i + 1]!;
    if (high !== low >> 31 || (dtype === "U64" && low < 0)) {
      const view = new DataView(bytes.buffer, bytes.byteOffset + 8 * i, 8);
      const value = dtype === "I64" ? view.getBigInt64(0, true) : view.getBigUint64(0, true);
      throw outOfInt32(dtype, value.toString(), i, context);
    }
    out[i] = low;
  }
  return out;
}

function outOfInt32(dtype: string, value: string, index: number, context: SafetensorsErrorContext): SafetensorsError {
  return new SafetensorsError(
    "value-range",
    context,
    `${dtype} -> int32: expected values in [-2147483648, 2147483647], found ${value} at element ${index}`,
  );
}
