/** Element types. float16 and bfloat16 are storage types: cast them to float32 to compute. */
export type DType = "float32" | "int32" | "bool" | "float16" | "bfloat16";

/** The typed array that holds each dtype on the host. Half types keep their raw 16-bit patterns. */
export interface TypedArrayFor {
  float32: Float32Array;
  int32: Int32Array;
  bool: Uint8Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
}
export type HostArray = Float32Array | Int32Array | Uint8Array | Uint16Array;

export const DTYPES: readonly DType[] = ["float32", "int32", "bool", "float16", "bfloat16"];

export const BYTES_PER_ELEMENT: Record<DType, number> = {
  float32: 4,
  int32: 4,
  bool: 1,
  float16: 2,
  bfloat16: 2,
};

export function allocHost(dtype: DType, size: number): HostArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(size);
    case "int32":
      return new Int32Array(size);
    case "bool":
      return new Uint8Array(size);
    case "float16":
    case "bfloat16":
      return new Uint16Array(size);
  }
}

export function isFloating(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float16" || dtype === "bfloat16";
}
