import type { StridedView } from "../../backend.js";
import { viewData } from "../buffer.js";
import { coalesce, gatherInto, sizeOf } from "../strided.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";

const LAYER_NORM = kernel("rows", "layer_norm");
const RMS_NORM = kernel("rows", "rms_norm");
const SOFTMAX = kernel("rows", "softmax");
const ARGMAX = kernel("rows", "argmax_rows");

/**
 * The row kernels (layerNorm, rmsNorm, softmax over the last axis) on the resident kernels: x
 * float32 in WebAssembly memory, rows of contiguous floats one stride apart (a tensor, or a slice
 * of its rows), rows split over threads. Null (nothing done) where x is not like that; the caller
 * then runs its own.
 */
export function residentRows(
  kind: "layer_norm" | "rms_norm" | "softmax",
  x: StridedView,
  weight: StridedView | null = null,
  bias: StridedView | null = null,
  eps = 0,
): Float32Array | null {
  const rt = activeRuntime();
  if (rt === null || x.buffer.dtype !== "float32") return null;
  for (const p of [weight, bias]) if (p && p.buffer.dtype !== "float32") return null;
  const data = viewData(x) as Float32Array;
  const home = rt.heap.locate(data);
  if (home === null) return null;
  const n = sizeOf(x.shape);
  const cols = x.shape[x.shape.length - 1] ?? 1;
  if (n === 0 || cols === 0) return null;
  const rows = n / cols;
  const ops = new Operands(rt.heap, home);
  const result = ops.result(n);
  if (result === null) return null;
  const out = result.array;
  let ok = false;
  try {
    const param = (p: StridedView | null): number | null =>
      p ? ops.input(viewData(p) as Float32Array, p.offset, cols, p.strides[p.strides.length - 1] ?? 1) : 0;
    const w = param(weight);
    const b = param(bias);
    if (w === null || b === null) return null;
    // rows of contiguous floats one stride apart (a contiguous tensor, or a slice of its rows) are
    // read in place; any other layout is gathered into scratch first
    let xa = data.byteOffset + x.offset * 4;
    let ldx = rowStride(x, rows);
    if (ldx === null) {
      const rowsCopy = ops.scratch(n);
      if (rowsCopy === null) return null;
      gatherInto(x, rowsCopy, 0);
      [xa, ldx] = [rowsCopy.byteOffset, cols * 4];
    }
    const parts = splitRange(rows, rt.partsFor(n * 8, rows), 1);
    const args = parts.map(([r0, r1]) => {
      const xr = xa + r0 * ldx;
      const at = result.addr + r0 * cols * 4;
      if (kind === "layer_norm") return [xr, ldx, w, b, at, r1 - r0, cols, eps];
      if (kind === "rms_norm") return [xr, ldx, w, at, r1 - r0, cols, eps];
      return [xr, ldx, at, r1 - r0, cols];
    });
    rt.call(kind === "layer_norm" ? LAYER_NORM : kind === "rms_norm" ? RMS_NORM : SOFTMAX, home, args);
    ok = true;
    return out;
  } finally {
    ops.done(ok);
    if (!ok) rt.heap.free(out);
  }
}

/**
 * The bytes between x's `rows` rows where they are rows of contiguous floats one stride apart (a
 * contiguous tensor, or a slice of its rows), which the row kernels read in place; null otherwise.
 */
function rowStride(x: StridedView, rows: number): number | null {
  const last = x.shape.length - 1;
  if (last >= 0 && x.shape[last]! > 1 && x.strides[last] !== 1) return null;
  const lead = coalesce(x.shape.slice(0, Math.max(0, last)), [x.strides.slice(0, Math.max(0, last))]);
  if (lead.outer.length > 0 || (lead.inner[0] ?? 0) < 0) return null;
  return rows > 1 ? lead.inner[0]! * 4 : (x.shape[last] ?? 1) * 4;
}

/**
 * argmax over the last axis on the resident kernel (`argmax_rows`): x float32 in WebAssembly
 * memory, rows of contiguous floats one stride apart, rows split over threads; the indices as a new
 * Int32Array. Null (nothing done) where x is not like that; the caller then runs its own.
 */
export function residentArgmax(x: StridedView): Int32Array | null {
  const rt = activeRuntime();
  const cols = x.shape[x.shape.length - 1] ?? 0;
  if (rt === null || x.buffer.dtype !== "float32" || cols === 0) return null;
  const rows = sizeOf(x.shape) / cols;
  const ldx = rowStride(x, rows);
  const data = viewData(x) as Float32Array;
  const home = rt.heap.locate(data);
  if (ldx === null || home === null) return null;
  if (rows === 0) return new Int32Array(0);
  const ops = new Operands(rt.heap, home);
  let ok = false;
  try {
    const indices = ops.scratch(rows);
    if (indices === null) return null;
    const xa = data.byteOffset + x.offset * 4;
    const parts = splitRange(rows, rt.partsFor(rows * cols, rows), 1);
    rt.call(
      ARGMAX,
      home,
      parts.map(([r0, r1]) => [xa + r0 * ldx, ldx, indices.byteOffset + r0 * 4, r1 - r0, cols]),
    );
    ok = true;
    const out = new Int32Array(rows);
    out.set(new Int32Array(indices.buffer, indices.byteOffset, rows));
    return out;
  } finally {
    ops.done(ok);
  }
}
