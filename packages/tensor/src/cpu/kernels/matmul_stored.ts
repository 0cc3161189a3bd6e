import type { BackendBuffer, StridedView } from "../../backend.js";
import { isQuantized, QUANT_BLOCKS } from "../../dtype.js";
import { DTypeError } from "../../errors.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { float16Table } from "../half.js";
import { contiguousData, sizeOf } from "../strided.js";
import { gemmWasmF32 } from "../wasm/gemm.js";
import { gemmF32 } from "./gemm.js";
import { gemvStoredWasm } from "../wasm/gemv_stored.js";
import { residentMatmulStored } from "../resident/matmul_stored.js";
import { residentGemmStored } from "../resident/gemm_stored.js";
import { residentMatmulStoredQ8 } from "../resident/matmul_stored_q8.js";
import { residentGemmQ8 } from "../resident/gemm_q8.js";
import { countFallback } from "../resident/runtime.js";
import { q8_1MinCorrections, roundActivationsLikeGgml } from "./ggml_rounding.js";

/** How activations meet a stored weight: as they are (float32), or rounded as llama.cpp rounds them (see ggml_rounding.ts). */
export type ActivationRounding = "none" | "ggml";
import { decodeStoredRow } from "./stored_rows.js";

/** Floats of weight decoded per chunk of output columns in the GEMM path: stays in L2. */
const PANEL_FLOATS = 1 << 16;
/**
 * From this many rows of `a` on, decoded weight panels go through the float32 GEMM; below, each row
 * runs the WebAssembly GEMV over the stored weight (measured on a 2048 x 5632 weight: 3 rows 13-15 ms
 * a row by GEMV, 16 rows 15-18 ms a row by GEMM, 64 rows 7-10 ms a row by GEMM; a loaded machine).
 */
const GEMM_ROWS = 16;

/**
 * a [...batch, M, K] float32 times b [K, N] held as float16, bfloat16 or quantized blocks, read as
 * stored: each column of b (a row of the [N, K] weight) is decoded to float32 just before it is
 * used and accumulated in float32 or wider, so no float32 copy of the weight ever exists. Few rows
 * (decoding): each decoded row is dotted with the rows of a at once. More rows (prefill): panels of
 * decoded rows go through the float32 GEMM (WebAssembly SIMD where available). b's batch dims, if
 * any, are broadcast (stride 0): one weight for all.
 */
export function matmulStored(a: StridedView, b: StridedView, wasm: boolean, rounding: ActivationRounding = "none"): BackendBuffer {
  const { out, int8 } = storedProduct(a, b, wasm, rounding);
  const dtype = b.buffer.dtype;
  // (the int8 kernels add Q4_1's / Q5_1's min term as llama.cpp does already)
  if (rounding === "ggml" && !int8 && (dtype === "q4_1" || dtype === "q5_1")) addQ8_1MinTerms(out, a, b);
  return out;
}

/**
 * llama.cpp multiplies a Q4_1 / Q5_1 block's min by its Q8_1 activations' own float16 sum (see
 * q8_1MinCorrections); the product over rounded activations used d16 times the levels' sum. This
 * adds min * (the difference) for every weight row and activation row, in float64.
 */
function addQ8_1MinTerms(out: CpuBuffer, a: StridedView, b: StridedView): void {
  const r = a.shape.length;
  const K = a.shape[r - 1]!;
  const N = b.shape[r - 1]!;
  const rows = sizeOf(a.shape) / Math.max(K, 1);
  if (rows === 0 || N === 0 || K === 0) return;
  const corrections = q8_1MinCorrections(contiguousData(a) as Float32Array, rows, K);
  const { bytes } = QUANT_BLOCKS[b.buffer.dtype as "q4_1"];
  const blocks = viewData(b) as Uint8Array;
  const sbn = b.strides[r - 1]!;
  const nb = K / 32;
  const y = out.data as Float32Array;
  const table = float16Table();
  for (let n = 0; n < N; n++) {
    const first = ((b.offset + n * sbn) / 32) * bytes;
    for (let i = 0; i < rows; i++) {
      let sum = 0;
      for (let j = 0; j < nb; j++)
        sum += table[blocks[first + j * bytes + 2]! | (blocks[first + j * bytes + 3]! << 8)]! * corrections[i * nb + j]!;
      y[i * N + n] = y[i * N + n]! + sum;
    }
  }
}

/** The product, and whether an int8 kernel computed it (llama.cpp's way, min terms included). */
function storedProduct(a: StridedView, b: StridedView, wasm: boolean, rounding: ActivationRounding): { out: CpuBuffer; int8: boolean } {
  const r = a.shape.length;
  const K = a.shape[r - 1]!;
  const N = b.shape[r - 1]!;
  const rows = sizeOf(a.shape) / Math.max(K, 1);
  const sbk = b.strides[r - 2]!;
  const sbn = b.strides[r - 1]!;
  if (b.strides.slice(0, r - 2).some((s) => s !== 0)) {
    throw new DTypeError(`cpu backend: a ${b.buffer.dtype} matmul operand must be one matrix shared by the batch`);
  }
  if (isQuantized(b.buffer.dtype) && sbk !== 1 && K > 1) {
    throw new DTypeError(
      `cpu backend: a ${b.buffer.dtype} weight is multiplied along its blocks (x @ W^T with W [out, in] quantized by rows); this one's blocks run across the product`,
    );
  }
  let A = contiguousData(a) as Float32Array; // activations: already contiguous in practice
  if (rounding === "ggml" && wasm && rows >= GEMM_ROWS) {
    // prefill over the 32-value block types, Q4_K, Q5_K and Q6_K as llama.cpp does: activations quantized to Q8_0 / Q8_K, a tiled int8 GEMM (resident/gemm_q8.ts)
    const q8 = residentGemmQ8(rows, N, K, A, b);
    if (q8 !== null) return { out: new CpuBuffer(q8, "float32"), int8: true };
  }
  if (wasm && rows >= GEMM_ROWS) {
    // prefill over a weight in the resident heap: panels decoded in WebAssembly, threaded GEMM,
    // activations rounded there in ggml mode (resident/gemm_stored.ts)
    const resident = residentGemmStored(rows, N, K, A, b, rounding);
    if (resident !== null) return { out: new CpuBuffer(resident, "float32"), int8: false };
  }
  if (rounding === "ggml" && wasm && rows < GEMM_ROWS) {
    // decoding over Q8_0 / Q4_0 / Q6_K / Q4_K / Q5_K as llama.cpp does: activations quantized to Q8_0 / Q8_K, int8 dot products (resident/matmul_stored_q8.ts)
    const q8 = residentMatmulStoredQ8(rows, N, K, A, b);
    if (q8 !== null) return { out: new CpuBuffer(q8, "float32"), int8: true };
  }
  if (rounding === "ggml") A = roundActivationsLikeGgml(A, rows, K, b.buffer.dtype);
  if (wasm && rows < GEMM_ROWS) {
    // decoding over a weight in the resident heap: read in place, threaded (resident/matmul_stored.ts)
    const resident = residentMatmulStored(rows, N, K, A, b);
    if (resident !== null) return { out: new CpuBuffer(resident, "float32"), int8: false };
  }
  const out = new Float32Array(rows * N);
  if (rows === 0 || N === 0) return { out: new CpuBuffer(out, "float32"), int8: false };
  if (wasm) countFallback(`matmul ${b.buffer.dtype}`);
  if (wasm && rows < GEMM_ROWS && gemvStoredWasm(rows, N, K, A, b, out)) return { out: new CpuBuffer(out, "float32"), int8: false };
  if (rows < 4) dotRows(rows, N, K, A, b, sbk, sbn, out);
  else gemmPanels(rows, N, K, A, b, sbk, sbn, out, wasm);
  return { out: new CpuBuffer(out, "float32"), int8: false };
}

/** out[i, n] = A[i, :] . b[:, n] with each column of b decoded once. */
function dotRows(rows: number, N: number, K: number, A: Float32Array, b: StridedView, sbk: number, sbn: number, out: Float32Array): void {
  const col = new Float32Array(K);
  for (let n = 0; n < N; n++) {
    decodeStoredRow(b, b.offset + n * sbn, sbk, K, col);
    for (let i = 0; i < rows; i++) {
      const o = i * K;
      let s0 = 0;
      let s1 = 0;
      let s2 = 0;
      let s3 = 0;
      let k = 0;
      for (; k + 4 <= K; k += 4) {
        s0 += A[o + k]! * col[k]!;
        s1 += A[o + k + 1]! * col[k + 1]!;
        s2 += A[o + k + 2]! * col[k + 2]!;
        s3 += A[o + k + 3]! * col[k + 3]!;
      }
      for (; k < K; k++) s0 += A[o + k]! * col[k]!;
      out[i * N + n] = s0 + s1 + (s2 + s3);
    }
  }
}

/** Panels of decoded columns of b, [nc, K] each, multiplied by the float32 GEMM into out's columns. */
function gemmPanels(
  rows: number,
  N: number,
  K: number,
  A: Float32Array,
  b: StridedView,
  sbk: number,
  sbn: number,
  out: Float32Array,
  wasm: boolean,
): void {
  const nc = Math.max(4, Math.min(N, Math.floor(PANEL_FLOATS / Math.max(K, 1))));
  const panel = new Float32Array(nc * K);
  const tile = new Float32Array(rows * nc);
  for (let n0 = 0; n0 < N; n0 += nc) {
    const w = Math.min(nc, N - n0);
    for (let j = 0; j < w; j++) decodeStoredRow(b, b.offset + (n0 + j) * sbn, sbk, K, panel, j * K);
    // panel as the [K, w] operand: element (k, j) at j * K + k
    if (!(wasm && gemmWasmF32(rows, w, K, A, 0, K, 1, panel, 0, 1, K, tile, 0))) gemmF32(rows, w, K, A, 0, K, 1, panel, 0, 1, K, tile, 0);
    for (let i = 0; i < rows; i++) out.set(tile.subarray(i * w, i * w + w), i * N + n0);
  }
}
