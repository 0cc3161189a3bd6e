import type { BackendBuffer, StridedView } from "../../backend.js";
import { allocUninit } from "../pool.js";
import { CpuBuffer } from "../buffer.js";
import { copyViewInto } from "../resident/copy.js";
import { contiguousStrides, sizeOf } from "../strided.js";

/** Materialises any strided view (stride 0 broadcasts, negative strides) as a new contiguous buffer. */
export function copy(x: StridedView): BackendBuffer {
  const out = allocUninit(x.buffer.dtype, sizeOf(x.shape));
  copyViewInto(x, out, 0, contiguousStrides(x.shape));
  return new CpuBuffer(out, x.buffer.dtype);
}

/** Joins views along `axis` by copying each into its slab of the output. */
export function concat(xs: readonly StridedView[], axis: number): BackendBuffer {
  const first = xs[0];
  if (first === undefined) throw new Error("cpu backend: concat needs at least one view");
  const dtype = first.buffer.dtype;
  const shape = first.shape.slice();
  shape[axis] = 0;
  for (const x of xs) shape[axis] += x.shape[axis]!;
  const strides = contiguousStrides(shape);
  const out = allocUninit(dtype, sizeOf(shape));
  let start = 0;
  for (const x of xs) {
    copyViewInto(x, out, start * strides[axis]!, strides);
    start += x.shape[axis]!;
  }
  return new CpuBuffer(out, dtype);
}
