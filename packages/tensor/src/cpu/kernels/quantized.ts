import type { BackendBuffer, StridedView } from "../../backend.js";
import { isQuantized, QUANT_BLOCKS, type QuantizedDType } from "../../dtype.js";
import { DTypeError } from "../../errors.js";
import { dequantizeBlocks } from "../../quant/index.js";
import { allocUninit } from "../pool.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { contiguousData, isContiguous, sizeOf } from "../strided.js";
import { decodeStoredRow } from "./stored_rows.js";

/**
 * The kernels that accept block-quantized buffers besides matmul: a table lookup (take along
 * axis 0 of a [rows, cols] table, rows dequantized to float32), a cast to float32 (dequantize),
 * and a copy of whole rows in storage order. Everything else refuses them at the Tensor layer.
 */

/** out [m, cols] float32 = rows `indices` of x [rows, cols], each decoded from its blocks. */
export function gatherQuantizedRows(x: StridedView, indices: StridedView): BackendBuffer {
  const [len, cols] = x.shape as [number, number];
  const idx = contiguousData(indices) as Int32Array;
  // in the resident heap where there is one (every row is written), so the kernels after an
  // embedding lookup read the rows in place
  const out = allocUninit("float32", idx.length * cols) as Float32Array;
  for (let j = 0; j < idx.length; j++) {
    let k = idx[j]!;
    if (k < 0) k += len;
    decodeStoredRow(x, x.offset + k * x.strides[0]!, x.strides[1]!, cols, out, j * cols);
  }
  return new CpuBuffer(out, "float32");
}

/** The view's values as a contiguous float32 array: the whole buffer dequantized, then the view read from it. */
export function dequantizeView(view: StridedView): Float32Array {
  const dtype = view.buffer.dtype as QuantizedDType;
  const all = new Float32Array(view.buffer.size);
  dequantizeBlocks(dtype, viewData(view) as Uint8Array, 0, all.length, all, 0);
  const f = contiguousData({ ...view, buffer: new CpuBuffer(all, "float32") }) as Float32Array;
  return f.length === all.length ? f : f.slice();
}

/** A copy of a quantized view that is whole blocks in row-major order (a slice of rows); other views are refused. */
export function copyQuantized(view: StridedView): BackendBuffer {
  const dtype = view.buffer.dtype;
  if (!isQuantized(dtype)) throw new DTypeError(`copyQuantized: expected a quantized buffer, found ${dtype}`);
  const { elements, bytes } = QUANT_BLOCKS[dtype];
  const size = sizeOf(view.shape);
  if (!isContiguous(view) || view.offset % elements !== 0 || size % elements !== 0) {
    throw new DTypeError(
      `cpu backend: a ${dtype} tensor can be copied only as whole rows in storage order; cast it to float32 first (view of shape [${view.shape.join(",")}], strides [${view.strides.join(",")}])`,
    );
  }
  const start = (view.offset / elements) * bytes;
  return new CpuBuffer((viewData(view) as Uint8Array).slice(start, start + (size / elements) * bytes), dtype);
}
