import type { StridedView } from "../../backend.js";
import { viewData } from "../buffer.js";
import { geluTable } from "../kernels/ggml_rounding.js";
import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";
import { isContiguous, sizeOf } from "../strided.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const GELU = kernel("ggml_rounding", "ggml_gelu");
/** Threads split runs on multiples of 16 floats (a cache line). */
const LINE = 16;

/**
 * The GELU table each memory holds (its 65536 float16 values as float32, 256 KiB: the kernel was
 * faster with it than with a float16 table in every case measured, cache-cold included, 2.8-3.1
 * against 3.6-3.9 us for 3072 warm values, as widening a half costs more than the larger table's
 * misses; benchmarks/ggml_gelu_kernels.ts), made on first use and kept for the memory's life;
 * every thread's kernel reads the one in its memory.
 */
const tables = new WeakMap<Arena, Float32Array>();

function tableIn(heap: WasmHeap, arena: Arena): number | null {
  let table = tables.get(arena);
  if (table === undefined) {
    const made = heap.allocIn(arena, "float32", 65536) as Float32Array | null;
    if (made === null) return null;
    made.set(geluTable());
    tables.set(arena, (table = made));
  }
  return table.byteOffset;
}

/**
 * ggml's GELU (ggmlGelu, kernels/ggml_rounding.ts: the float16 table lookup llama.cpp does) of
 * contiguous float32 x on the resident kernel, the same bits; null where x is strided, outside
 * the heap or no memory has room (the caller runs ggmlGelu).
 */
export function residentGgmlGelu(x: StridedView): Float32Array | null {
  const rt = activeRuntime();
  if (rt === null || x.buffer.dtype !== "float32" || !isContiguous(x)) return null;
  const X = viewData(x) as Float32Array;
  const home = rt.heap.locate(X);
  const n = sizeOf(x.shape);
  if (home === null || n === 0) return null;
  const table = tableIn(rt.heap, home);
  if (table === null) return null;
  const ops = new Operands(rt.heap, home);
  const result = ops.result(n);
  if (result === null) return null;
  const xa = X.byteOffset + x.offset * 4;
  const parts = splitRange(n, rt.partsFor(n, Math.ceil(n / LINE)), LINE);
  rt.call(
    GELU,
    home,
    parts.map(([s, e]) => [xa + s * 4, result.addr + s * 4, e - s, table]),
  );
  ops.done();
  return result.array;
}
