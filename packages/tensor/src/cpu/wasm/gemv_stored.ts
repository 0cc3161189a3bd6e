import type { StridedView } from "../../backend.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { viewData } from "../buffer.js";
import { decodeHalfRun, float16BitsToFloat32 } from "../half.js";
import { gemvStoredModule } from "./gemv_stored_module.js";
import { instantiate } from "./runtime.js";

interface StoredKernels {
  q8_0(w: number, s: number, x: number, y: number, n: number, nb: number, ldw: number): void;
  q4_0(w: number, s: number, x: number, y: number, n: number, nb: number, ldw: number): void;
  f16(w: number, x: number, y: number, n: number, k4: number, ldw: number): void;
  bf16(w: number, x: number, y: number, n: number, k4: number, ldw: number): void;
  q6_k(w: number, s: number, x: number, y: number, n: number, nb: number, ldw: number): void;
  f32(bytes: number): Float32Array | null;
}

let kernels: StoredKernels | null | undefined;
function storedKernels(): StoredKernels | null {
  if (kernels !== undefined) return kernels;
  const m = instantiate(gemvStoredModule);
  return (kernels = m && {
    q8_0: m.exports.dot_q8_0 as StoredKernels["q8_0"],
    q4_0: m.exports.dot_q4_0 as StoredKernels["q4_0"],
    f16: m.exports.dot_f16 as StoredKernels["f16"],
    bf16: m.exports.dot_bf16 as StoredKernels["bf16"],
    q6_k: m.exports.dot_q6_k as StoredKernels["q6_k"],
    f32: m.f32,
  });
}

/** Weight bytes staged per kernel call: stays in L2 while every activation row reads it. */
const CHUNK_BYTES = 1 << 18;

const roundUp = (n: number, m: number): number => Math.ceil(n / m) * m;

/**
 * out[i, :] = A[i, :] W^T for a few activation rows (decoding) with W [N, K] kept as Q8_0, Q4_0,
 * float16 or bfloat16, on the WebAssembly SIMD kernels: chunks of W's rows are copied into wasm
 * memory as stored (a memcpy; block scales decoded to float32 beside them) and dotted with each
 * activation row. b is the [K, N] view of W (K stride 1, rows of W sbn apart and contiguous).
 * Returns false (nothing written) for other dtypes or layouts, or without WebAssembly SIMD.
 */
export function gemvStoredWasm(rows: number, N: number, K: number, A: Float32Array, b: StridedView, out: Float32Array): boolean {
  const dtype = b.buffer.dtype;
  const r = b.shape.length;
  const sbk = b.strides[r - 2]!;
  const sbn = b.strides[r - 1]!;
  if (sbk !== 1 || (N > 1 && sbn !== K)) return false;
  const quantized = dtype === "q8_0" || dtype === "q4_0" || dtype === "q6_k";
  if (!quantized && dtype !== "float16" && dtype !== "bfloat16") return false;
  const blockElements = dtype === "q6_k" ? 256 : 32;
  if (quantized ? K % blockElements !== 0 || b.offset % blockElements !== 0 : K % 4 !== 0) return false;
  const g = storedKernels();
  if (g === null) return false;
  const blockBytes = quantized ? QUANT_BLOCKS[dtype].bytes : 0;
  const nb = K / blockElements;
  // float32 scales per block (Q8_0, Q4_0) or per 16 values (Q6_K: d times each sub-block's scale)
  const scalesPerBlock = dtype === "q6_k" ? 16 : 1;
  const rowBytes = quantized ? nb * blockBytes : K * 2;
  const chunkRows = Math.max(1, Math.min(N, Math.floor(CHUNK_BYTES / rowBytes)));
  // layout (bytes): x rows [rows * K floats], y [chunkRows floats], scales [chunkRows * nb floats], weights
  const xAt = 0;
  const yAt = roundUp(xAt + rows * K * 4, 16);
  const sAt = roundUp(yAt + chunkRows * 4, 16);
  const wAt = roundUp(sAt + (quantized ? chunkRows * nb * scalesPerBlock * 4 : 0), 16);
  const mem = g.f32(wAt + chunkRows * rowBytes);
  if (mem === null) return false;
  const bytes = new Uint8Array(mem.buffer);
  mem.set(A.subarray(0, rows * K), xAt / 4);
  const src = viewData(b) as Uint8Array | Uint16Array;
  const srcBytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
  const first = quantized ? (b.offset / blockElements) * blockBytes : b.offset * 2;
  const halves = new Uint16Array(mem.buffer, wAt, (chunkRows * rowBytes) >> 1);
  for (let n0 = 0; n0 < N; n0 += chunkRows) {
    const nc = Math.min(chunkRows, N - n0);
    const start = first + n0 * rowBytes;
    bytes.set(srcBytes.subarray(start, start + nc * rowBytes), wAt);
    if (dtype === "q6_k") q6kScales(bytes, wAt, nc * nb, mem, sAt / 4);
    else if (quantized) decodeHalfRun(false, halves, 0, blockBytes / 2, mem, sAt / 4, nc * nb); // each block's f16 scale
    for (let i = 0; i < rows; i++) {
      const x = xAt + i * K * 4;
      if (dtype === "q8_0") g.q8_0(wAt, sAt, x, yAt, nc, nb, rowBytes);
      else if (dtype === "q4_0") g.q4_0(wAt, sAt, x, yAt, nc, nb, rowBytes);
      else if (dtype === "q6_k") g.q6_k(wAt, sAt, x, yAt, nc, nb, rowBytes);
      else if (dtype === "float16") g.f16(wAt, x, yAt, nc, K / 4, rowBytes);
      else g.bf16(wAt, x, yAt, nc, K / 4, rowBytes);
      out.set(mem.subarray(yAt / 4, yAt / 4 + nc), i * N + n0);
    }
  }
  return true;
}

/** d * scale[i] of each Q6_K super-block's 16 sub-blocks, as float32 (as dequantize_row_q6_K computes them). */
function q6kScales(bytes: Uint8Array, at: number, blocks: number, dst: Float32Array, d: number): void {
  for (let b = 0, o = at; b < blocks; b++, o += 210) {
    const scale = float16BitsToFloat32(bytes[o + 208]! | (bytes[o + 209]! << 8));
    for (let i = 0; i < 16; i++) dst[d++] = Math.fround(scale * ((bytes[o + 192 + i]! << 24) >> 24));
  }
}
