import type { BackendBuffer, StridedView } from "../../backend.js";
import type { HostArray } from "../../dtype.js";
import { allocUninit } from "../pool.js";
import { CpuBuffer, viewData } from "../buffer.js";
import { cast, float32View, isHalf } from "./cast.js";
import { gemmF32 } from "./gemm.js";
import { matmulStored, type ActivationRounding } from "./matmul_stored.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "../strided.js";
import { gemmWasmF32 } from "../wasm/gemm.js";
import { residentMatmul, residentMatmulBatch } from "../resident/matmul.js";
import { countFallback } from "../resident/runtime.js";

/**
 * Batched matmul a [...batch, M, K] x b [...batch, K, N]. Each batch entry is one strided GEMM:
 * float32 goes to a blocked kernel (transposes and broadcasts are absorbed by packing): the WASM SIMD
 * one when `wasm` is on and it is available and worth it, else the JS one; other dtypes go to a
 * plain triple loop.
 */
export function matmul(a: StridedView, b: StridedView, wasm = true, rounding: ActivationRounding = "none"): BackendBuffer {
  const dtype = a.buffer.dtype;
  const r = a.shape.length;
  const M = a.shape[r - 2]!;
  const K = a.shape[r - 1]!;
  const N = b.shape[r - 1]!;
  const batch = a.shape.slice(0, r - 2);
  const outShape = [...batch, M, N];
  // a weight kept as stored (float16, bfloat16, quantized blocks) times float32 activations
  if (dtype === "float32" && b.buffer.dtype !== "float32") return matmulStored(a, b, wasm, rounding);
  if (isHalf(dtype)) {
    const out = matmul(float32View(a), float32View(b), wasm);
    return cast({ buffer: out, shape: outShape, strides: contiguousStrides(outShape), offset: 0 }, dtype);
  }
  // not zero-filled: the resident kernels write every output (filling a step's matmul outputs
  // with zeros first cost more than a tenth of a training step); the other paths zero their part
  const out = allocUninit(dtype, sizeOf(outShape));
  const A = viewData(a);
  const B = viewData(b);
  const sam = a.strides[r - 2]!;
  const sak = a.strides[r - 1]!;
  const sbk = b.strides[r - 2]!;
  const sbn = b.strides[r - 1]!;
  if (out.length === 0) return new CpuBuffer(out, dtype);
  const one = (m: number, sm: number, oc: number, oa: number, ob: number): void => {
    if (dtype === "float32") {
      const [fa, fb, fc] = [A as Float32Array, B as Float32Array, out as Float32Array];
      if (wasm && residentMatmul(m, N, K, fa, oa, sm, sak, fb, ob, sbk, sbn, fc, oc)) return;
      if (wasm) countFallback("matmul float32");
      fc.fill(0, oc, oc + m * N);
      if (wasm && gemmWasmF32(m, N, K, fa, oa, sm, sak, fb, ob, sbk, sbn, fc, oc)) return;
      gemmF32(m, N, K, fa, oa, sm, sak, fb, ob, sbk, sbn, fc, oc);
    } else {
      out.fill(0, oc, oc + m * N);
      gemmNaive(m, N, K, dtype === "int32", A, oa, sm, sak, B, ob, sbk, sbn, out, oc);
    }
  };
  if (batch.length === 0) {
    one(M, sam, 0, a.offset, b.offset);
    return new CpuBuffer(out, dtype);
  }
  // One matrix shared by the whole batch (x [B, T, C] @ W): when a's batch and row dims step through
  // memory as one, that is a single taller GEMM, B packed once, and decoding a batch of sequences
  // becomes a matrix product instead of B matrix-vector products.
  const bBatch = b.strides.slice(0, r - 2);
  if (bBatch.every((s, i) => s === 0 || batch[i] === 1)) {
    const rows = coalesce([...batch, M], [a.strides.slice(0, r - 1)]);
    if (rows.outer.length === 0) {
      one(rows.n, rows.inner[0]!, 0, a.offset, b.offset);
      return new CpuBuffer(out, dtype);
    }
  }
  const runs = coalesce(batch, [contiguousStrides(batch).map((s) => s * M * N), a.strides.slice(0, r - 2), bBatch]);
  const [sc, sa, sb] = runs.inner as [number, number, number];
  if (dtype === "float32" && wasm) {
    // the whole batch as one resident call, threads taking whole entries
    const [oa, ob, oc]: number[][] = [[], [], []];
    forEachRun(runs, [0, a.offset, b.offset], (offs) => {
      for (let t = 0; t < runs.n; t++) {
        oc.push(offs[0]! + t * sc);
        oa.push(offs[1]! + t * sa);
        ob.push(offs[2]! + t * sb);
      }
    });
    const [fa, fb, fc] = [A as Float32Array, B as Float32Array, out as Float32Array];
    if (residentMatmulBatch(M, N, K, fa, oa, sam, sak, fb, ob, sbk, sbn, fc, oc)) return new CpuBuffer(out, dtype);
  }
  forEachRun(runs, [0, a.offset, b.offset], (offs) => {
    for (let t = 0; t < runs.n; t++) one(M, sam, offs[0]! + t * sc, offs[1]! + t * sa, offs[2]! + t * sb);
  });
  return new CpuBuffer(out, dtype);
}

function gemmNaive(
  M: number,
  N: number,
  K: number,
  isInt: boolean,
  A: HostArray,
  oa: number,
  sam: number,
  sak: number,
  B: HostArray,
  ob: number,
  sbk: number,
  sbn: number,
  C: HostArray,
  oc: number,
): void {
  for (let i = 0; i < M; i++) {
    for (let j = 0; j < N; j++) {
      let s = 0;
      const ai = oa + i * sam;
      const bj = ob + j * sbn;
      if (isInt) for (let k = 0; k < K; k++) s = (s + Math.imul(A[ai + k * sak]!, B[bj + k * sbk]!)) | 0;
      else for (let k = 0; k < K; k++) s += A[ai + k * sak]! * B[bj + k * sbk]!;
      C[oc + i * N + j] = s;
    }
  }
}
