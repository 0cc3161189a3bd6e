import type { StridedView } from "../../backend.js";
import { geluTable } from "../kernels/ggml_rounding.js";
import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";
import { residentMap } from "./elementwise.js";
import { kernel } from "./modules.js";

const GELU = kernel("ggml_rounding", "ggml_gelu");

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
  let table = 0;
  return residentMap(
    x,
    GELU,
    1,
    (src, dst, values) => [src, dst, values, table],
    (heap, home) => {
      const at = tableIn(heap, home);
      if (at !== null) table = at;
      return at !== null;
    },
  );
}
