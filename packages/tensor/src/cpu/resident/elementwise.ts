import type { BinaryOp, StridedView, UnaryOp } from "../../backend.js";
import { viewData } from "../buffer.js";
import { coalesce, contiguousStrides, isContiguous, sizeOf } from "../strided.js";
import { RESIDENT_BINARY_OPS, type ResidentBinaryOp } from "../wasm/binary_module.js";
import { kernel, type KernelRef } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";
import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";

const BINARY = Object.fromEntries(RESIDENT_BINARY_OPS.map((op) => [op, kernel("binary", `binary_${op}`)])) as Record<
  ResidentBinaryOp,
  KernelRef
>;
const UNARY: Partial<Record<UnaryOp, KernelRef>> = { gelu_tanh: kernel("activations", "gelu_tanh"), silu: kernel("activations", "silu") };
/** Threads split runs on multiples of 16 floats (a cache line). */
const LINE = 16;

/**
 * float32 a op b (add, sub, mul, div) on the resident kernels, for the layouts that coalesce to
 * rows: same shapes, a row broadcast over rows, a scalar, one value per row. `inPlace`: written
 * over a (contiguous; each element read before it is written, lane for lane), which it returns.
 * Null where the op, layout or memory does not fit; the caller then runs its own.
 */
export function residentBinary(op: BinaryOp, a: StridedView, b: StridedView, inPlace = false): Float32Array | null {
  const rt = activeRuntime();
  if (rt === null || a.buffer.dtype !== "float32" || !(op in BINARY)) return null;
  const runs = coalesce(a.shape, [contiguousStrides(a.shape), a.strides, b.strides]);
  if (runs.outer.length > 1) return null;
  let [x, y] = [a, b];
  let [, sx, sy] = runs.inner as [number, number, number];
  let [ox, oy] = [runs.outerStrides[1]![0] ?? 0, runs.outerStrides[2]![0] ?? 0];
  if (sx !== 1 && sy === 1 && (op === "add" || op === "mul")) {
    [x, y, sx, sy, ox, oy] = [b, a, sy, sx, oy, ox]; // a scalar or column on the left: commute
  }
  if (sx !== 1 || (sy !== 1 && sy !== 0) || ox < 0 || oy < 0) return null;
  if (inPlace && (x !== a || !isContiguous(a))) return null;
  const X = viewData(x) as Float32Array;
  const home = rt.heap.locate(X);
  const n = sizeOf(a.shape);
  if (home === null || n === 0) return null;
  const ops = new Operands(rt.heap, home);
  const ya = ops.view(y); // (copied over when it is in another memory)
  const result = ya === null ? null : inPlace ? { array: X, addr: X.byteOffset + a.offset * 4 } : ops.result(n);
  if (ya === null || result === null) {
    ops.done(false);
    return null;
  }
  const out = result.array;
  const rows = runs.outer[0] ?? 1;
  const cols = runs.n;
  const bOne = sy === 0 ? 1 : 0;
  const xa = X.byteOffset + x.offset * 4;
  let args: number[][];
  if (rows === 1) {
    const parts = splitRange(cols, rt.partsFor(cols, Math.ceil(cols / LINE)), LINE);
    args = parts.map(([c0, c1]) => [xa + c0 * 4, 0, bOne ? ya : ya + c0 * 4, 0, bOne, result.addr + c0 * 4, 1, c1 - c0]);
  } else {
    const parts = splitRange(rows, rt.partsFor(n, rows), 1);
    args = parts.map(([r0, r1]) => [xa + r0 * ox * 4, ox * 4, ya + r0 * oy * 4, oy * 4, bOne, result.addr + r0 * cols * 4, r1 - r0, cols]);
  }
  rt.call(BINARY[op as ResidentBinaryOp], home, args);
  ops.done();
  return out;
}

/**
 * GELU (tanh) and SiLU of contiguous float32 x on the resident kernels (`inPlace`: over x, which
 * it returns); null otherwise.
 */
export function residentUnary(op: UnaryOp, x: StridedView, inPlace = false): Float32Array | null {
  const ref = UNARY[op];
  // whole vectors: the last one may read and write up to three floats past the end, which every
  // block has room for (see Arena.blockSize); in place, only where x ends its array (past it is
  // then its block's padding, not another tensor's elements)
  if (ref === undefined || (inPlace && x.offset + sizeOf(x.shape) !== viewData(x).length)) return null;
  return residentMap(x, ref, 8, (src, dst, values) => [src, dst, Math.ceil(values / 4)], undefined, inPlace);
}

/**
 * Runs the one-input kernel `ref` over contiguous float32 x where it lives, into a new array of
 * its size, threads taking runs of whole cache lines (`workPerValue` weighs the split):
 * `args(src, dst, values)` gives a run's arguments. `prepare(heap, home)` readies what the kernel
 * needs in x's memory first (false: it cannot). Null where x is strided, elsewhere or empty, or
 * memory is short; the caller then runs its own.
 */
export function residentMap(
  x: StridedView,
  ref: KernelRef,
  workPerValue: number,
  args: (src: number, dst: number, values: number) => number[],
  prepare?: (heap: WasmHeap, home: Arena) => boolean,
  /** Written over x (its result is x's array). */
  inPlace = false,
): Float32Array | null {
  const rt = activeRuntime();
  if (rt === null || x.buffer.dtype !== "float32" || !isContiguous(x)) return null;
  const X = viewData(x) as Float32Array;
  const home = rt.heap.locate(X);
  const n = sizeOf(x.shape);
  if (home === null || n === 0 || (prepare && !prepare(rt.heap, home))) return null;
  const xa = X.byteOffset + x.offset * 4;
  const ops = inPlace ? null : new Operands(rt.heap, home);
  const result = ops === null ? { array: X, addr: xa } : ops.result(n);
  if (result === null) return null;
  const parts = splitRange(n, rt.partsFor(n * workPerValue, Math.ceil(n / LINE)), LINE);
  rt.call(
    ref,
    home,
    parts.map(([s, e]) => args(xa + s * 4, result.addr + s * 4, e - s)),
  );
  ops?.done();
  return result.array;
}
