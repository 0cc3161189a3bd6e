import { isHalfDType } from "../dtype.js";
import { ArgumentError, DTypeError, ShapeError, fmtShape } from "../errors.js";
import { shapesEqual } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { sameBackend } from "./core.js";

/**
 * Writes src's values into dst in place, where dst is usually a slice of a larger tensor: every
 * tensor sharing dst's storage sees them. This is how a buffer grows step by step (a KV cache)
 * without copying all of it each step. It is outside autograd, so dst must not require grad.
 * src has dst's dtype, or is float32 written into a float16 or bfloat16 dst (rounded to nearest
 * even, as cast rounds).
 * Returns false, writing nothing, when the backend cannot write in place (the caller then builds
 * a new tensor, e.g. with concat).
 */
export function writeInto(dst: Tensor, src: Tensor): boolean {
  const backend = sameBackend("writeInto", dst, src);
  if (dst.requiresGrad) throw new ArgumentError("writeInto: dst requires grad; in-place writes are outside autograd");
  // float32 into half storage rounds as cast does (a float16 KV cache); any other pair must match
  if (dst.dtype !== src.dtype && !(src.dtype === "float32" && isHalfDType(dst.dtype))) {
    throw new DTypeError(`writeInto: dst is ${dst.dtype} but src is ${src.dtype} (only float32 may be written into float16 or bfloat16)`);
  }
  if (!shapesEqual(dst.shape, src.shape))
    throw new ShapeError(`writeInto: dst has shape ${fmtShape(dst.shape)} but src has ${fmtShape(src.shape)}`);
  if (dst.shape.some((d, i) => d > 1 && dst.strides[i] === 0))
    throw new ArgumentError(
      `writeInto: dst is a broadcast view (stride 0 on an axis of size > 1), so its elements alias; write into the tensor it broadcasts`,
    );
  if (!backend.writeInto) return false;
  backend.writeInto(dst.view(), src.view());
  return true;
}
