import type { StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { viewData } from "../buffer.js";
import { coalesce } from "../strided.js";
import { kernel } from "./modules.js";
import { activeRuntime } from "./runtime.js";

const COPY_WORDS = kernel("binary", "copy_words");
const ENCODE_F16 = kernel("half_copy", "encode_f16");
const DECODE_F16 = kernel("half_copy", "decode_f16");
/** Below this many elements the JS loop costs less than a call into the kernel. */
const MIN_ELEMENTS = 64;

/**
 * copyInto (../strided.ts) on the resident kernel `copy_words`: a float32 or int32 view copied into
 * `dst` (the same element type) laid out with `dstStrides`, where both are in the same WebAssembly
 * memory and the copy coalesces to at most three levels. False, nothing written, otherwise (the
 * caller then copies in JS). On the calling thread: a copy is bound by memory, not instructions.
 */
export function residentCopyInto(view: StridedView, dst: HostArray, dstOffset: number, dstStrides: readonly number[]): boolean {
  const rt = activeRuntime();
  const src = viewData(view);
  if (rt === null || src.BYTES_PER_ELEMENT !== 4 || dst.BYTES_PER_ELEMENT !== 4 || src.constructor !== dst.constructor) return false;
  const runs = coalesce(view.shape, [dstStrides, view.strides]);
  if (runs.outer.length > 2 || runs.n === 0 || runs.outer.some((d) => d === 0)) return false;
  const [o1, o2] = runs.outer.length === 2 ? runs.outer : [1, runs.outer[0] ?? 1];
  if (o1 * o2 * runs.n < MIN_ELEMENTS) return false;
  const home = rt.heap.locate(src);
  if (home === null || rt.heap.locate(dst) !== home) return false;
  const [dIn, sIn] = runs.inner as [number, number];
  const level = (operand: number, k: number): number =>
    runs.outer.length === 2 ? runs.outerStrides[operand]![k]! : k === 0 ? 0 : (runs.outerStrides[operand]![0] ?? 0);
  const args = [
    src.byteOffset + view.offset * 4,
    dst.byteOffset + dstOffset * 4,
    runs.n,
    sIn * 4,
    dIn * 4,
    o2,
    level(1, 1) * 4,
    level(0, 1) * 4,
    o1,
    level(1, 0) * 4,
    level(0, 0) * 4,
  ];
  rt.call(COPY_WORDS, home, [args]);
  return true;
}

/**
 * A float32 view rounded into float16 storage (`encode`: a Uint16Array dst) or a float16 view
 * widened into float32 (`decode`), on the resident kernels `encode_f16` / `decode_f16`: the JS
 * converters' values bit for bit, where both are in the same WebAssembly memory, the copy coalesces
 * to at most three levels of runs contiguous on both sides, and a run is a multiple of four
 * elements (a head's 64 or 128 values). False, nothing written, otherwise.
 */
export function residentHalfCopyInto(
  kind: "encode" | "decode",
  view: StridedView,
  dst: HostArray,
  dstOffset: number,
  dstStrides: readonly number[],
): boolean {
  const rt = activeRuntime();
  const src = viewData(view);
  const [from, to] = kind === "encode" ? [4, 2] : [2, 4];
  if (rt === null || src.BYTES_PER_ELEMENT !== from || dst.BYTES_PER_ELEMENT !== to) return false;
  const runs = coalesce(view.shape, [dstStrides, view.strides]);
  const [dIn, sIn] = runs.inner as [number, number];
  if (runs.outer.length > 2 || runs.n % 4 !== 0 || runs.n === 0 || dIn !== 1 || sIn !== 1 || runs.outer.some((d) => d === 0)) return false;
  const [o1, o2] = runs.outer.length === 2 ? runs.outer : [1, runs.outer[0] ?? 1];
  if (o1 * o2 * runs.n < MIN_ELEMENTS) return false;
  const home = rt.heap.locate(src);
  if (home === null || rt.heap.locate(dst) !== home) return false;
  const level = (operand: number, k: number): number =>
    runs.outer.length === 2 ? runs.outerStrides[operand]![k]! : k === 0 ? 0 : (runs.outerStrides[operand]![0] ?? 0);
  const args = [
    src.byteOffset + view.offset * from,
    dst.byteOffset + dstOffset * to,
    runs.n,
    o2,
    level(1, 1) * from,
    level(0, 1) * to,
    o1,
    level(1, 0) * from,
    level(0, 0) * to,
  ];
  rt.call(kind === "encode" ? ENCODE_F16 : DECODE_F16, home, [args]);
  return true;
}
