/**
 * Backend.fused's kernels over each row of the last axis: softmax, logSoftmax, layerNorm, rmsNorm,
 * logSoftmax's backward, and cross-entropy's log-sum-exp and backward (the WebGPU backend has them in webgpu/src/kernels/rows.ts).
 */
import type { BackendBuffer, StridedView } from "../../backend.js";
import { CpuBuffer } from "../buffer.js";
import { cast, toFloat32 } from "./cast.js";
import { allocUninit, allocZeroed } from "../pool.js";
import { logSoftmaxGradWasm, logSoftmaxWasm } from "../wasm/activations.js";
import { contiguousData, contiguousStrides } from "../strided.js";
import { residentRows } from "../resident/rows.js";
import { activeRuntime, countFallback } from "../resident/runtime.js";
import { residentCrossEntropyGrad, residentLogSoftmax, residentLogSoftmaxGrad, residentLogSumExpRows } from "../resident/train.js";

/** Row-wise kernels over the last axis, computed in float32 storage with float64 temporaries. */
function rows(x: StridedView): { data: Float32Array; rows: number; cols: number } {
  const cols = x.shape[x.shape.length - 1] ?? 1;
  const data = toFloat32(x);
  return { data, rows: cols === 0 ? 0 : data.length / cols, cols };
}

/** Wraps a float32 result as a buffer of the input's dtype (halves are rounded back). */
function result(out: Float32Array, x: StridedView): BackendBuffer {
  const buffer = new CpuBuffer(out, "float32");
  const dtype = x.buffer.dtype;
  if (dtype === "float32") return buffer;
  return cast({ buffer, shape: x.shape, strides: contiguousStrides(x.shape), offset: 0 }, dtype);
}

export function softmax(x: StridedView): BackendBuffer {
  const resident = residentRows("softmax", x);
  if (resident) return new CpuBuffer(resident, "float32");
  const { data, rows: R, cols: L } = rows(x);
  const out = allocZeroed("float32", data.length) as Float32Array;
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let max = -Infinity;
    for (let i = o; i < o + L; i++) if (data[i]! > max) max = data[i]!;
    // An all -Infinity (fully masked) row has no mass anywhere: leave zeros rather than NaN.
    if (max === -Infinity) continue;
    let sum = 0;
    for (let i = o; i < o + L; i++) {
      const e = Math.exp(data[i]! - max);
      out[i] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let i = o; i < o + L; i++) out[i]! *= inv;
  }
  return result(out, x);
}

export function logSoftmax(x: StridedView, wasm = true): BackendBuffer {
  const resident = wasm ? residentLogSoftmax(x) : null;
  if (resident) return new CpuBuffer(resident, "float32");
  const { data, rows: R, cols: L } = rows(x);
  const out = allocZeroed("float32", data.length) as Float32Array;
  if (wasm && logSoftmaxWasm(data, out, R, L)) return result(out, x);
  for (let r = 0, o = 0; r < R; r++, o += L) {
    const shift = rowShift(data, o, L);
    if (shift === Infinity) {
      out.fill(-Infinity, o, o + L);
      continue;
    }
    for (let i = o; i < o + L; i++) out[i] = data[i]! - shift;
  }
  return result(out, x);
}

/** max + log sum e^(x - max) over data[o, o + L) in float64; +Infinity for a row of -Infinity. */
function rowShift(data: Float32Array, o: number, L: number): number {
  let max = -Infinity;
  for (let i = o; i < o + L; i++) if (data[i]! > max) max = data[i]!;
  if (max === -Infinity) return Infinity;
  let sum = 0;
  for (let i = o; i < o + L; i++) sum += Math.exp(data[i]! - max);
  return max + Math.log(sum);
}

/** (x - mean) / sqrt(var + eps) * w + b with the biased variance, like torch.nn.LayerNorm. */
export function layerNorm(x: StridedView, weight: StridedView | null, bias: StridedView | null, eps: number): BackendBuffer {
  const resident = residentRows("layer_norm", x, weight, bias, eps);
  if (resident) return new CpuBuffer(resident, "float32");
  if (activeRuntime() !== null) countFallback("layer_norm");
  const { data, rows: R, cols: L } = rows(x);
  const w = weight ? toFloat32(weight) : null;
  const b = bias ? toFloat32(bias) : null;
  const out = allocZeroed("float32", data.length) as Float32Array;
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let sum = 0;
    for (let i = o; i < o + L; i++) sum += data[i]!;
    const mean = sum / L;
    // Two passes: the centred sum of squares does not cancel catastrophically.
    let sq = 0;
    for (let i = o; i < o + L; i++) {
      const d = data[i]! - mean;
      sq += d * d;
    }
    const rstd = 1 / Math.sqrt(sq / L + eps);
    if (w && b) for (let i = 0; i < L; i++) out[o + i] = (data[o + i]! - mean) * rstd * w[i]! + b[i]!;
    else if (w) for (let i = 0; i < L; i++) out[o + i] = (data[o + i]! - mean) * rstd * w[i]!;
    else if (b) for (let i = 0; i < L; i++) out[o + i] = (data[o + i]! - mean) * rstd + b[i]!;
    else for (let i = 0; i < L; i++) out[o + i] = (data[o + i]! - mean) * rstd;
  }
  return result(out, x);
}

/** x / sqrt(mean(x^2) + eps) * w, like LLaMA's RMSNorm. */
export function rmsNorm(x: StridedView, weight: StridedView | null, eps: number): BackendBuffer {
  const resident = residentRows("rms_norm", x, weight, null, eps);
  if (resident) return new CpuBuffer(resident, "float32");
  if (activeRuntime() !== null) countFallback("rms_norm");
  const { data, rows: R, cols: L } = rows(x);
  const w = weight ? toFloat32(weight) : null;
  const out = allocZeroed("float32", data.length) as Float32Array;
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let sq = 0;
    for (let i = o; i < o + L; i++) sq += data[i]! * data[i]!;
    const rstd = 1 / Math.sqrt(sq / L + eps);
    if (w) for (let i = 0; i < L; i++) out[o + i] = data[o + i]! * rstd * w[i]!;
    else for (let i = 0; i < L; i++) out[o + i] = data[o + i]! * rstd;
  }
  return result(out, x);
}

/** g - exp(y) * sum(g) along each row: logSoftmax's backward from its output y. */
export function logSoftmaxGrad(y: StridedView, g: StridedView, wasm = true): BackendBuffer {
  const resident = wasm ? residentLogSoftmaxGrad(y, g) : null;
  if (resident) return new CpuBuffer(resident, "float32");
  const { data, rows: R, cols: L } = rows(y);
  const gs = toFloat32(g);
  const out = allocUninit("float32", data.length) as Float32Array;
  if (wasm && logSoftmaxGradWasm(data, gs, out, R, L)) return new CpuBuffer(out, "float32");
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let sum = 0;
    for (let i = o; i < o + L; i++) sum += gs[i]!;
    for (let i = o; i < o + L; i++) out[i] = gs[i]! - Math.exp(data[i]!) * sum;
  }
  return new CpuBuffer(out, "float32");
}

/** Each row's max + log sum e^(x - max) (float64 inside, float32 out; +Infinity for a row of -Infinity). */
export function logSumExpRows(x: StridedView, wasm = true): BackendBuffer {
  const resident = wasm ? residentLogSumExpRows(x) : null;
  if (resident) return new CpuBuffer(resident, "float32");
  const { data, rows: R, cols: L } = rows(x);
  const out = allocUninit("float32", R) as Float32Array;
  for (let r = 0, o = 0; r < R; r++, o += L) out[r] = rowShift(data, o, L);
  return new CpuBuffer(out, "float32");
}

/** Cross-entropy's gradient at the logits: e^(x - shift) g per row, minus g at the row's target. */
export function crossEntropyGrad(x: StridedView, shift: StridedView, targets: StridedView, g: StridedView, wasm = true): BackendBuffer {
  const resident = wasm ? residentCrossEntropyGrad(x, shift, targets, g) : null;
  if (resident) return new CpuBuffer(resident, "float32");
  const { data, rows: R, cols: L } = rows(x);
  const s = toFloat32(shift);
  const gs = toFloat32(g);
  const t = contiguousData(targets);
  const out = allocUninit("float32", data.length) as Float32Array;
  for (let r = 0, o = 0; r < R; r++, o += L) {
    // + 0 makes a zero product +0, as logSoftmax's backward's 0 - e (-g) is
    for (let i = o; i < o + L; i++) out[i] = Math.exp(Math.fround(data[i]! - s[r]!)) * gs[r]! + 0;
    out[o + t[r]!] = out[o + t[r]!]! - gs[r]!;
  }
  return new CpuBuffer(out, "float32");
}
