import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { viewData } from "../buffer.js";
import { KC, MC, NC } from "../wasm/gemm_resident_module.js";
import { PANEL_DTYPES, type PanelDType } from "../wasm/gemm_stored_resident_module.js";
import { roundActivationsLikeGgml } from "../kernels/ggml_rounding.js";
import { gridOf, iqGrid } from "../../quant/iq_grids.js";
import type { ActivationRounding } from "../kernels/matmul_stored.js";
import { roundActivationsResident } from "./ggml_rounding.js";
import { kernel, type KernelRef } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const KERNELS = Object.fromEntries(PANEL_DTYPES.map((d) => [d, kernel("gemm_stored", `gemm_${d}`)])) as Record<PanelDType, KernelRef>;

/** Threads split outputs on multiples of 16 floats (a cache line), so no two write one line. */
const LINE = 16;
/**
 * Bytes of decoded weight per panel (each thread its own): nc rows of K floats, nc a multiple of
 * 16 up to the GEMM's column block. Large enough that A, re-packed per panel, is packed rarely.
 */
const PANEL_BYTES = 1 << 20;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * out [rows, N] = A [rows, K] W^T for many activation rows (prefill) with W [N, K] kept as
 * float16, bfloat16, Q8_0, Q4_0, Q6_K, Q4_K or Q5_K in the resident heap: each thread takes a range of
 * W's rows, decodes them panel by panel into float32 scratch in WebAssembly and runs the float32
 * GEMM on each panel, so no float32 copy of W exists beyond a panel a thread. Every output is the
 * float32 GEMM's over the decoded weight (the same bits for any thread count, and as decoding all
 * of W then multiplying). With `rounding` "ggml", A is first rounded as llama.cpp rounds it (in
 * WebAssembly where a kernel does it, see resident/ggml_rounding.ts). b is the [K, N] view of W
 * (K stride 1, rows sbn apart). Null (nothing done) where there is no runtime, W is not in the
 * heap, or the dtype or layout has no kernel.
 */
export function residentGemmStored(
  rows: number,
  N: number,
  K: number,
  A: Float32Array,
  b: StridedView,
  rounding: ActivationRounding = "none",
): Float32Array | null {
  const rt = activeRuntime();
  const dtype = b.buffer.dtype;
  if (rt === null || !rt.ready || rows === 0 || N === 0 || K === 0 || !(dtype in KERNELS)) return null;
  const r = b.shape.length;
  if (b.strides[r - 2] !== 1 || (N > 1 && b.strides[r - 1] !== K)) return null;
  const quantized = dtype !== "float16" && dtype !== "bfloat16";
  const blockElements = quantized ? QUANT_BLOCKS[dtype as "q8_0"].elements : 4;
  if (K % blockElements !== 0 || (quantized && b.offset % blockElements !== 0)) return null;
  const data = viewData(b);
  const home = rt.heap.locate(data);
  if (home === null) return null;
  const rowBytes = quantized ? (K / blockElements) * QUANT_BLOCKS[dtype as "q8_0"].bytes : K * 2;
  const w = data.byteOffset + (quantized ? (b.offset / blockElements) * QUANT_BLOCKS[dtype as "q8_0"].bytes : b.offset * 2);
  const nb = K / blockElements;
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    let x = ops.input(A, 0, rows * K);
    if (x !== null && rounding === "ggml") {
      const rounded = ops.scratch(rows * K);
      if (rounded !== null && roundActivationsResident(home, x, rounded.byteOffset, rows, K, dtype)) x = rounded.byteOffset;
      else x = ops.input(roundActivationsLikeGgml(A, rows, K, dtype), 0, rows * K);
    }
    // the lattice types' table, copied into W's memory
    const name = gridOf(dtype);
    const grid = name === null ? null : ops.bytes(iqGrid(name));
    const result = x === null || (name !== null && grid === null) ? null : ops.result(rows * N);
    if (x === null || result === null) return null;
    const kc4 = roundUp(Math.min(KC, K), 4);
    const packA = kc4 * roundUp(Math.min(MC, rows), 2);
    // Scratch per part: its panel, the GEMM's packed blocks of B and A and an edge tile.
    const columnsOf = (j0: number, j1: number): number =>
      Math.min(roundUp(j1 - j0, LINE), Math.max(LINE, Math.min(NC, Math.floor(PANEL_BYTES / (4 * K * LINE)) * LINE)));
    const packBOf = (nc: number): number => kc4 * roundUp(Math.min(NC, nc), LINE);
    const args = ops.partsWithScratch(
      rt.partsFor(rows * N * K, Math.ceil(N / LINE)),
      (count) => splitRange(N, count, LINE),
      (j0, j1) => {
        const nc = columnsOf(j0, j1);
        return nc * K + packBOf(nc) + packA + 2 * LINE;
      },
      (j0, j1, scratch) => {
        const nc = columnsOf(j0, j1);
        const packB = packBOf(nc);
        const at = (floats: number): number => scratch.byteOffset + floats * 4;
        const p = nc * K;
        const part = [
          w,
          rowBytes,
          nb,
          x,
          K * 4,
          result.addr,
          N * 4,
          rows,
          K,
          j0,
          j1,
          nc,
          at(0),
          at(p),
          at(p + packB + packA),
          at(p + packB),
        ];
        return grid === null ? part : [...part, grid];
      },
    );
    if (args === null) {
      rt.heap.free(result.array);
      return null;
    }
    rt.call(KERNELS[dtype as PanelDType], home, args);
    ok = true;
    return result.array;
  } finally {
    ops.done(ok);
  }
}
