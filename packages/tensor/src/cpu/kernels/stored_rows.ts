import type { StridedView } from "../../backend.js";
import { isQuantized, QUANT_BLOCKS, type DType } from "../../dtype.js";
import { DTypeError } from "../../errors.js";
import { dequantizeBlocks } from "../../quant/index.js";
import { viewData } from "../buffer.js";
import { decodeHalfRun } from "../half.js";

/**
 * Reading a weight stored as float16, bfloat16 or in quantized blocks, one logical row at a time
 * into float32 (the matmul and take kernels compute on what this decodes, then drop it). A row
 * here is `count` values `step` elements apart from element `start` of the buffer; block types
 * only have rows that run along their blocks (step 1, whole blocks).
 */
export function decodeStoredRow(view: StridedView, start: number, step: number, count: number, dst: Float32Array, d = 0): void {
  const dtype = view.buffer.dtype;
  if (dtype === "float16" || dtype === "bfloat16") {
    decodeHalfRun(dtype === "bfloat16", viewData(view) as Uint16Array, start, step, dst, d, count);
  } else if (isQuantized(dtype)) {
    const { elements, bytes } = QUANT_BLOCKS[dtype];
    if (step !== 1 || start % elements !== 0 || count % elements !== 0) {
      throw new DTypeError(
        `cpu backend: a ${dtype} tensor is read along its blocks of ${elements} values; this view reads ${count} values ${step} apart from element ${start}`,
      );
    }
    dequantizeBlocks(dtype, viewData(view) as Uint8Array, (start / elements) * bytes, count, dst, d);
  } else if (dtype === "float32") {
    const src = viewData(view) as Float32Array;
    for (let i = 0; i < count; i++) dst[d + i] = src[start + i * step]!;
  } else {
    throw new DTypeError(`cpu backend: expected a float weight, found ${dtype}`);
  }
}

/** True for the dtypes a weight keeps as stored (read by decodeStoredRow). */
export function isStoredDType(dtype: DType): boolean {
  return dtype === "float16" || dtype === "bfloat16" || isQuantized(dtype);
}
