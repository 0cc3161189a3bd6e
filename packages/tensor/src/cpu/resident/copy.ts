import type { StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import type { Arena } from "../memory/arena.js";
import { viewData } from "../buffer.js";
import { coalesce, copyInto, type Runs } from "../strided.js";
import { kernel } from "./modules.js";
import { activeRuntime, splitRange } from "./runtime.js";

const COPY_WORDS = kernel("copy", "copy_words");
const ENCODE_F16 = kernel("copy", "encode_f16");
const DECODE_F16 = kernel("copy", "decode_f16");
/** Below this many elements the JS loop costs less than a call into the kernel. */
const MIN_ELEMENTS = 64;

/** A copy as the copy kernels take it (see plan). */
interface Plan {
  readonly home: Arena;
  readonly src: HostArray;
  readonly runs: Runs;
  readonly o1: number;
  readonly o2: number;
  readonly s2: number;
  readonly d2: number;
  readonly s1: number;
  readonly d1: number;
}

/**
 * A copy of `view` into `dst` (laid out with `dstStrides` from `dstOffset`) as the copy kernels take
 * it: both in one WebAssembly memory (`home`), the runs coalesced to at most three levels, o1 x o2
 * runs of `runs.n` elements, and each level's source and destination strides in elements (runs
 * s2 / d2 apart, groups of runs s1 / d1). Null where the copy is not like that, or too small.
 */
function plan(view: StridedView, dst: HostArray, dstStrides: readonly number[]): Plan | null {
  const rt = activeRuntime();
  if (rt === null) return null;
  const src = viewData(view);
  const runs = coalesce(view.shape, [dstStrides, view.strides]);
  if (runs.outer.length > 2 || runs.n === 0 || runs.outer.some((d) => d === 0)) return null;
  const two = runs.outer.length === 2;
  const [o1, o2] = two ? runs.outer : [1, runs.outer[0] ?? 1];
  if (o1 * o2 * runs.n < MIN_ELEMENTS) return null;
  const home = rt.heap.locate(src);
  if (home === null || rt.heap.locate(dst) !== home) return null;
  const [ds, ss] = runs.outerStrides as [number[], number[]];
  const [s2, d2] = two ? [ss[1]!, ds[1]!] : [ss[0] ?? 0, ds[0] ?? 0];
  const [s1, d1] = two ? [ss[0]!, ds[0]!] : [0, 0];
  return { home, src, runs, o1, o2, s2, d2, s1, d1 };
}

/**
 * The copy's kernel calls (the copy kernels' nine leading arguments, wasm/copy_module.ts), split over
 * threads by its outer level (groups of runs where there are several, else runs); elements of
 * `from` and `to` bytes, the first at byte addresses src and dst.
 */
function runArgs(p: Plan, src: number, dst: number, from: number, to: number): number[][] {
  const rt = activeRuntime()!;
  const byGroups = p.o1 > 1;
  const units = byGroups ? p.o1 : p.o2;
  const count = rt.partsFor(p.o1 * p.o2 * p.runs.n, units);
  return splitRange(units, count, 1).map(([u0, u1]) => {
    const [o1, o2, at, dat] = byGroups ? [u1 - u0, p.o2, u0 * p.s1, u0 * p.d1] : [1, u1 - u0, u0 * p.s2, u0 * p.d2];
    return [src + at * from, dst + dat * to, p.runs.n, o2, p.s2 * from, p.d2 * to, o1, p.s1 * from, p.d1 * to];
  });
}

/**
 * copyInto (../strided.ts) on the resident kernel `copy_words`: a float32 or int32 view copied into
 * `dst` (the same element type) laid out with `dstStrides`, where both are in the same WebAssembly
 * memory and the copy coalesces to at most three levels. False, nothing written, otherwise (the
 * caller then copies in JS). Threads take ranges of its outer level (see runArgs).
 */
export function residentCopyInto(view: StridedView, dst: HostArray, dstOffset: number, dstStrides: readonly number[]): boolean {
  const src = viewData(view);
  if (src.BYTES_PER_ELEMENT !== 4 || dst.BYTES_PER_ELEMENT !== 4 || src.constructor !== dst.constructor) return false;
  const p = plan(view, dst, dstStrides);
  if (p === null) return false;
  const [dIn, sIn] = p.runs.inner as [number, number];
  const args = runArgs(p, src.byteOffset + view.offset * 4, dst.byteOffset + dstOffset * 4, 4, 4).map((a) => [...a, sIn * 4, dIn * 4]);
  activeRuntime()!.call(COPY_WORDS, p.home, args);
  return true;
}

/** copyInto: on the resident kernel where it runs there (residentCopyInto), else in JS. */
export function copyViewInto(view: StridedView, dst: HostArray, dstOffset: number, dstStrides: readonly number[]): void {
  if (!residentCopyInto(view, dst, dstOffset, dstStrides)) copyInto(view, dst, dstOffset, dstStrides);
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
  const [from, to] = kind === "encode" ? [4, 2] : [2, 4];
  if (viewData(view).BYTES_PER_ELEMENT !== from || dst.BYTES_PER_ELEMENT !== to) return false;
  const p = plan(view, dst, dstStrides);
  if (p === null || p.runs.n % 4 !== 0 || p.runs.inner.some((s) => s !== 1)) return false;
  const args = runArgs(p, p.src.byteOffset + view.offset * from, dst.byteOffset + dstOffset * to, from, to);
  activeRuntime()!.call(kind === "encode" ? ENCODE_F16 : DECODE_F16, p.home, args);
  return true;
}
