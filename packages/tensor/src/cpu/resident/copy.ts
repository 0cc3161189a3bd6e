import type { StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import type { Arena } from "../memory/arena.js";
import { viewData } from "../buffer.js";
import { coalesce, type Runs } from "../strided.js";
import { kernel } from "./modules.js";
import { activeRuntime, splitRange } from "./runtime.js";

const COPY_WORDS = kernel("binary", "copy_words");
const ENCODE_F16 = kernel("half_copy", "encode_f16");
const DECODE_F16 = kernel("half_copy", "decode_f16");
/** Below this many elements the JS loop costs less than a call into the kernel. */
const MIN_ELEMENTS = 64;

/**
 * A copy of `view` into `dst` (laid out with `dstStrides` from `dstOffset`) as the copy kernels take
 * it: both in one WebAssembly memory (`home`), the runs coalesced to at most three levels, o1 x o2
 * runs of `runs.n` elements, and each level's source and destination strides in elements (runs
 * s2 / d2 apart, groups of runs s1 / d1). Null where the copy is not like that, or too small.
 */
function plan(
  view: StridedView,
  dst: HostArray,
  dstStrides: readonly number[],
): { home: Arena; src: HostArray; runs: Runs; o1: number; o2: number; s2: number; d2: number; s1: number; d1: number } | null {
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
 * The copy split over threads by its outer level (groups of runs where there are several, else
 * runs): each part's o1, o2 and where it starts, in elements from the copy's first source and
 * destination elements. One part for a single run or a small copy.
 */
function parts(p: NonNullable<ReturnType<typeof plan>>): { o1: number; o2: number; src: number; dst: number }[] {
  const rt = activeRuntime()!;
  const byGroups = p.o1 > 1;
  const units = byGroups ? p.o1 : p.o2;
  const count = rt.partsFor(p.o1 * p.o2 * p.runs.n, units);
  return splitRange(units, count, 1).map(([u0, u1]) =>
    byGroups ? { o1: u1 - u0, o2: p.o2, src: u0 * p.s1, dst: u0 * p.d1 } : { o1: 1, o2: u1 - u0, src: u0 * p.s2, dst: u0 * p.d2 },
  );
}

/**
 * copyInto (../strided.ts) on the resident kernel `copy_words`: a float32 or int32 view copied into
 * `dst` (the same element type) laid out with `dstStrides`, where both are in the same WebAssembly
 * memory and the copy coalesces to at most three levels. False, nothing written, otherwise (the
 * caller then copies in JS). Threads take ranges of its outer level (see parts).
 */
export function residentCopyInto(view: StridedView, dst: HostArray, dstOffset: number, dstStrides: readonly number[]): boolean {
  const src = viewData(view);
  if (src.BYTES_PER_ELEMENT !== 4 || dst.BYTES_PER_ELEMENT !== 4 || src.constructor !== dst.constructor) return false;
  const p = plan(view, dst, dstStrides);
  if (p === null) return false;
  const [dIn, sIn] = p.runs.inner as [number, number];
  const [from, to] = [src.byteOffset + view.offset * 4, dst.byteOffset + dstOffset * 4];
  const args = parts(p).map((q) => [
    from + q.src * 4,
    to + q.dst * 4,
    p.runs.n,
    sIn * 4,
    dIn * 4,
    q.o2,
    p.s2 * 4,
    p.d2 * 4,
    q.o1,
    p.s1 * 4,
    p.d1 * 4,
  ]);
  activeRuntime()!.call(COPY_WORDS, p.home, args);
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
  const [from, to] = kind === "encode" ? [4, 2] : [2, 4];
  if (viewData(view).BYTES_PER_ELEMENT !== from || dst.BYTES_PER_ELEMENT !== to) return false;
  const p = plan(view, dst, dstStrides);
  if (p === null || p.runs.n % 4 !== 0 || p.runs.inner.some((s) => s !== 1)) return false;
  const [src, out] = [p.src.byteOffset + view.offset * from, dst.byteOffset + dstOffset * to];
  const args = parts(p).map((q) => [
    src + q.src * from,
    out + q.dst * to,
    p.runs.n,
    q.o2,
    p.s2 * from,
    p.d2 * to,
    q.o1,
    p.s1 * from,
    p.d1 * to,
  ]);
  activeRuntime()!.call(kind === "encode" ? ENCODE_F16 : DECODE_F16, p.home, args);
  return true;
}
