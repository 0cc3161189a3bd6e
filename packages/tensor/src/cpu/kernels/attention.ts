import type { AttentionGrads, BackendBuffer, StridedView } from "../../backend.js";
import { bufferData, CpuBuffer, viewData } from "../buffer.js";
import { residentAttention, residentAttentionGrad } from "../resident/attention.js";
import { residentCopyInto } from "../resident/copy.js";
import { roundActivationsResident } from "../resident/ggml_rounding.js";
import { activeRuntime, countFallback } from "../resident/runtime.js";
import type { DType } from "../../dtype.js";
import { roundThroughHalves } from "../half.js";
import { allocUninit } from "../pool.js";
import { coalesce, contiguousStrides, forEachRun, sizeOf } from "../strided.js";
import { cast } from "./cast.js";
import { matmul } from "./matmul.js";

type Data = (x: StridedView) => Float32Array;

/**
 * Fused attention: on the resident kernel (../resident/attention.ts) where the operands are in
 * WebAssembly memory; otherwise as two GEMMs around one row pass: scores = q k^T on the matmul kernel (WASM SIMD
 * where available), then scale, bias, mask and softmax in a single sweep over each score row,
 * written in place, then probabilities x v. The products run faster on the GEMM than in a scalar
 * per-row loop (a one-pass JS kernel took 2.6 ms where this takes 1.3 ms, B1 H12 T1 S1024 D64), and
 * the row pass replaces the composed path's four elementwise kernels and their [B, H, T, S]
 * temporaries (composed: 1.4 ms there; at T = S = 128, 4.0 ms against 5.2 ms composed).
 * Grouped query heads are folded into the matmul rows or broadcast (stride 0), never copied.
 */
export function attention(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  wasm = true,
  ggmlRounding = false,
): BackendBuffer {
  const resident = wasm ? residentAttention(q, k, v, mask, bias, scale, viewData as Data, ggmlRounding ? "ggml" : "none") : null;
  if (resident) return new CpuBuffer(resident, "float32");
  if (k.buffer.dtype !== "float32" || v.buffer.dtype !== "float32") return widened(q, k, v, mask, bias, scale, wasm, ggmlRounding);
  if (wasm && activeRuntime() !== null) countFallback("attention");
  return products(q, k, v, mask, bias, scale, wasm, null);
}

/**
 * The two GEMMs around one row pass (see `attention`), float32 k and v. `rounding`: the query
 * rounded to one half dtype first and the weights to another after the softmax (llama.cpp's
 * products with a half KV cache: each product's other operand converted to the cache's dtype).
 */
function products(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  wasm: boolean,
  rounding: { q: DType; p: DType } | null,
): BackendBuffer {
  if (rounding) q = roundedTo(q, rounding.q);
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const G = H / Hkv;
  const [qb, qh, qt, qd] = q.strides as [number, number, number, number];
  const [kb, kh, ks, kd] = k.strides as [number, number, number, number];
  // The G query heads of a kv head and their T queries are one run of G*T rows when the view
  // allows it (always for T = 1, the decode step); otherwise k is broadcast over a group axis.
  const foldable = G === 1 || T === 1 || qh === T * qt;
  const scores = foldable
    ? matmul(
        { buffer: q.buffer, shape: [B, Hkv, G * T, D], strides: [qb, qh * G, T === 1 ? qh : qt, qd], offset: q.offset },
        { buffer: k.buffer, shape: [B, Hkv, D, S], strides: [kb, kh, kd, ks], offset: k.offset },
        wasm,
      )
    : matmul(
        { buffer: q.buffer, shape: [B, Hkv, G, T, D], strides: [qb, qh * G, qh, qt, qd], offset: q.offset },
        { buffer: k.buffer, shape: [B, Hkv, G, D, S], strides: [kb, kh, 0, kd, ks], offset: k.offset },
        wasm,
      );
  // Either way the scores are contiguous [B, H, T, S].
  softmaxRows(bufferData(scores) as Float32Array, [B, H, T, S], mask, bias, scale);
  if (rounding) roundInPlace(bufferData(scores) as Float32Array, rounding.p);
  const [vb, vh, vs, vd] = v.strides as [number, number, number, number];
  const out = matmul(
    { buffer: scores, shape: [B, Hkv, G * T, S], strides: [Hkv * G * T * S, G * T * S, S, 1], offset: 0 },
    { buffer: v.buffer, shape: [B, Hkv, S, D], strides: [vb, vh, vs, vd], offset: v.offset },
    wasm,
  );
  if (rounding) (q.buffer as CpuBuffer).dispose();
  return out;
}

/** x's float32 values rounded to a half dtype, as a contiguous float32 view of a buffer of its own (in the heap). */
function roundedTo(x: StridedView, dtype: DType): StridedView {
  const src = viewData(x) as Float32Array;
  const bits = new Uint32Array(src.buffer, src.byteOffset, src.length);
  const strides = contiguousStrides(x.shape);
  const out = allocUninit("float32", sizeOf(x.shape)) as Float32Array;
  // on the resident kernels where x and out are in one memory: copied, then rounded in place
  const home = activeRuntime()?.heap.locate(out) ?? null;
  if (home !== null && residentCopyInto(x, out, 0, strides)) {
    if (!roundActivationsResident(home, out.byteOffset, out.byteOffset, 1, out.length, dtype)) roundInPlace(out, dtype);
    return { buffer: new CpuBuffer(out, "float32"), shape: x.shape, strides, offset: 0 };
  }
  const runs = coalesce(x.shape, [strides, x.strides]);
  const scratch = new Uint16Array(ROUNDING_CHUNK);
  forEachRun(runs, [0, x.offset], (offs) =>
    roundThroughHalves(dtype === "bfloat16", bits, offs[1]!, runs.inner[1]!, out, offs[0]!, runs.n, scratch),
  );
  return { buffer: new CpuBuffer(out, "float32"), shape: x.shape, strides, offset: 0 };
}

/** Each value replaced by its nearest float16 (bfloat16), ties to even. */
function roundInPlace(a: Float32Array, dtype: DType): void {
  const bits = new Uint32Array(a.buffer, a.byteOffset, a.length);
  roundThroughHalves(dtype === "bfloat16", bits, 0, 1, a, 0, a.length, new Uint16Array(ROUNDING_CHUNK));
}

/** Halves rounded a chunk at a time (roundThroughHalves' scratch). */
const ROUNDING_CHUNK = 1024;

/**
 * `attention` over half keys and values (a float16 or bfloat16 KV cache) where no kernel reads them
 * as stored (a prompt's many queries, bfloat16, k and v of two dtypes): over their float32 values,
 * rounding the query and the weights with ggmlRounding as the row kernel does.
 */
function widened(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  wasm: boolean,
  ggmlRounding: boolean,
): BackendBuffer {
  const asFloat32 = (x: StridedView): StridedView =>
    x.buffer.dtype === "float32" ? x : { buffer: cast(x, "float32"), shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 };
  const [k32, v32] = [asFloat32(k), asFloat32(v)];
  try {
    // in ggml's numerics the query and the weights are rounded to the keys' and values' dtype (see
    // products): a prompt's over float16 values on the block kernel, the query rounded here
    if (ggmlRounding && wasm && v.buffer.dtype === "float16") {
      const rounded = roundedTo(q, k.buffer.dtype);
      try {
        const resident = residentAttention(rounded, k32, v32, mask, bias, scale, viewData as Data, "weights");
        if (resident) return new CpuBuffer(resident, "float32");
      } finally {
        (rounded.buffer as CpuBuffer).dispose();
      }
    }
    if (ggmlRounding) return products(q, k32, v32, mask, bias, scale, wasm, { q: k.buffer.dtype, p: v.buffer.dtype });
    return attention(q, k32, v32, mask, bias, scale, wasm);
  } finally {
    if (k32 !== k) (k32.buffer as CpuBuffer).dispose();
    if (v32 !== v) (v32.buffer as CpuBuffer).dispose();
  }
}

/**
 * The backward of `attention` on the resident kernel (../resident/attention.ts); null where WASM is
 * off or the operands do not suit it, and the op composes the backward from primitives.
 */
export function attentionGrad(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  g: StridedView,
  wasm = true,
): AttentionGrads | null {
  if (!wasm) return null;
  const r = residentAttentionGrad(q, k, v, mask, bias, scale, g, viewData as (x: StridedView) => Float32Array);
  if (r === null) return null;
  return { dq: new CpuBuffer(r.dq, "float32"), dk: new CpuBuffer(r.dk, "float32"), dv: new CpuBuffer(r.dv, "float32") };
}

/**
 * p = softmax(scores * scale + bias) with masked keys at probability 0, in place over contiguous
 * [B, H, T, S] scores; a row with every key masked becomes zeros. Float64 temporaries.
 */
function softmaxRows(
  x: Float32Array,
  [B, H, T, S]: [number, number, number, number],
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
): void {
  const M = mask ? (viewData(mask) as Uint8Array) : null;
  const Bi = bias ? (viewData(bias) as Float32Array) : null;
  const [mb, mh, mt, ms] = (mask?.strides ?? [0, 0, 0, 0]) as [number, number, number, number];
  const [bb, bh, bt, bs] = (bias?.strides ?? [0, 0, 0, 0]) as [number, number, number, number];
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let t = 0; t < T; t++, o += S) {
        const mBase = mask ? mask.offset + b * mb + h * mh + t * mt : 0;
        const bBase = bias ? bias.offset + b * bb + h * bh + t * bt : 0;
        let max = -Infinity;
        for (let j = 0; j < S; j++) {
          let s = x[o + j]! * scale;
          if (Bi) s += Bi[bBase + j * bs]!;
          if (M && M[mBase + j * ms] === 0) s = -Infinity;
          x[o + j] = s;
          if (x[o + j]! > max) max = x[o + j]!;
        }
        if (max === -Infinity) {
          x.fill(0, o, o + S);
          continue;
        }
        let sum = 0;
        for (let j = o; j < o + S; j++) {
          const e = Math.exp(x[j]! - max);
          x[j] = e;
          sum += e;
        }
        const inv = 1 / sum;
        for (let j = o; j < o + S; j++) x[j]! *= inv;
      }
    }
  }
}
