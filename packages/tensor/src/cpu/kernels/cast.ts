import type { BackendBuffer, StridedView } from "../../backend.js";
import { isQuantized, type DType, type HostArray } from "../../dtype.js";
import { dequantizeView } from "./quantized.js";
import { allocUninit, allocZeroed, recycle } from "../pool.js";
import { residentHalfCopyInto } from "../resident/copy.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { decodeHalfRun, encodeHalfRun } from "../half.js";
import { coalesce, contiguousData, contiguousStrides, forEachRun, sizeOf } from "../strided.js";

export function isHalf(dtype: DType): boolean {
  return dtype === "float16" || dtype === "bfloat16";
}

/**
 * The view's values as a contiguous Float32Array (halves decoded, ints converted): a new array,
 * or `into` (the view's size) where given; a float32 view's own data where it is contiguous.
 */
export function toFloat32(view: StridedView, into?: Float32Array): Float32Array {
  const dtype = view.buffer.dtype;
  if (dtype === "float32" || isQuantized(dtype)) {
    const values = dtype === "float32" ? (contiguousData(view) as Float32Array) : dequantizeView(view);
    if (into === undefined) return values;
    into.set(values);
    return into;
  }
  const size = sizeOf(view.shape);
  const out = into ?? new Float32Array(size);
  if (dtype === "float16" && residentHalfCopyInto("decode", view, out, 0, contiguousStrides(view.shape))) return out;
  if (isHalf(dtype)) {
    const src = viewData(view) as Uint16Array;
    const bf16 = dtype === "bfloat16";
    const runs = coalesce(view.shape, [contiguousStrides(view.shape), view.strides]);
    forEachRun(runs, [0, view.offset], (offs) => decodeHalfRun(bf16, src, offs[1]!, runs.inner[1]!, out, offs[0]!, runs.n));
  } else {
    out.set(contiguousData(view));
  }
  return out;
}

/** A view of a contiguous array as a fresh float32 buffer's view (kernels compute halves this way). */
export function float32View(view: StridedView): StridedView {
  const data = toFloat32(view);
  return {
    buffer: new CpuBuffer(data, "float32"),
    shape: view.shape,
    strides: contiguousStrides(view.shape),
    offset: 0,
  };
}

/** Converts contiguous float32 (or int32/bool) values to `dtype`, rounding halves to nearest even. */
export function convertArray(src: HostArray, srcDtype: DType, dtype: DType): HostArray {
  const n = src.length;
  const out = allocZeroed(dtype, n);
  if (dtype === "float16" || dtype === "bfloat16") {
    // the float32 bits rounded in one loop (encodeHalfRun: float16's normal range inline)
    const f = srcDtype === "float32" ? (src as Float32Array) : Float32Array.from(src);
    encodeHalfRun(dtype === "bfloat16", new Uint32Array(f.buffer, f.byteOffset, n), 0, 1, out as Uint16Array, 0, 1, n);
  } else if (dtype === "bool") {
    for (let i = 0; i < n; i++) out[i] = src[i] !== 0 ? 1 : 0;
  } else {
    // Typed-array stores convert: to int32 truncates toward zero (NaN -> 0), like a C cast.
    out.set(src);
  }
  return out;
}

export function cast(x: StridedView, dtype: DType): BackendBuffer {
  const from = x.buffer.dtype;
  if (isQuantized(dtype)) throw new Error(`cpu backend: cast to ${dtype} is quantization; use quantizeTensor`);
  if (from === dtype) {
    const data = contiguousData(x);
    return new CpuBuffer(data.buffer === viewData(x).buffer ? data.slice() : data, dtype);
  }
  if (isHalf(from) || isQuantized(from)) {
    // widened values go where tensors live (the resident heap), so the kernels after a half
    // embedding's rows read them in place rather than falling back
    if (dtype === "float32") return new CpuBuffer(toFloat32(x, allocUninit("float32", sizeOf(x.shape)) as Float32Array), dtype);
    return new CpuBuffer(convertArray(toFloat32(x), "float32", dtype), dtype);
  }
  if (from === "float32" && dtype === "float16") {
    const out = allocUninit("float16", sizeOf(x.shape));
    if (residentHalfCopyInto("encode", x, out, 0, contiguousStrides(x.shape))) return new CpuBuffer(out, dtype);
    recycle(out, dtype);
  }
  return new CpuBuffer(convertArray(contiguousData(x), from, dtype), dtype);
}
