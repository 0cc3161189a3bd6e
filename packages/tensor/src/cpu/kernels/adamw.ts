import type { AdamWBuffers, AdamWStep, StridedView } from "../../backend.js";
import { CpuBuffer } from "../buffer.js";
import { toFloat32 } from "./cast.js";
import { allocUninit } from "../pool.js";
import { residentAdamW } from "../resident/train.js";

const f = Math.fround;

/**
 * One AdamW step in one pass over the parameter. Each line rounds to float32 where
 * torch.optim.AdamW's single-tensor path (and @llm/train's op-by-op AdamW) stores a float32
 * tensor, so the result is the same bit for bit, in one pass instead of about fourteen:
 *   p *= 1 - lr wd;  m = m + (g - m)(1 - b1);  v = v b2 + g g (1 - b2)
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export function adamwStep(
  param: StridedView,
  grad: StridedView,
  expAvg: StridedView | null,
  expAvgSq: StridedView | null,
  h: AdamWStep,
): AdamWBuffers {
  const resident = residentAdamW(param, grad, expAvg, expAvgSq, h);
  if (resident) return resident;
  const p = toFloat32(param);
  const g = toFloat32(grad);
  const m0 = expAvg ? toFloat32(expAvg) : null;
  const v0 = expAvgSq ? toFloat32(expAvgSq) : null;
  const n = p.length;
  const pOut = allocUninit("float32", n) as Float32Array;
  const mOut = allocUninit("float32", n) as Float32Array;
  const vOut = allocUninit("float32", n) as Float32Array;
  const decay = f(1 - h.lr * h.weightDecay);
  const moments = {
    oneMinusB1: f(1 - h.beta1),
    b2: f(h.beta2),
    oneMinusB2: f(1 - h.beta2),
    stepSize: f(h.lr / (1 - h.beta1 ** h.step)),
    bias2Sqrt: f(Math.sqrt(1 - h.beta2 ** h.step)),
    eps: f(h.eps),
  };
  // the decay as a pass of its own, then the moments and the update in one more
  if (h.weightDecay !== 0) for (let i = 0; i < n; i++) pOut[i] = p[i]! * decay;
  else pOut.set(p);
  if (m0 && v0) laterStep(g, m0, v0, pOut, mOut, vOut, moments);
  else firstStep(g, pOut, mOut, vOut, moments);
  return { param: new CpuBuffer(pOut, "float32"), expAvg: new CpuBuffer(mOut, "float32"), expAvgSq: new CpuBuffer(vOut, "float32") };
}

interface Moments {
  oneMinusB1: number;
  b2: number;
  oneMinusB2: number;
  stepSize: number;
  bias2Sqrt: number;
  eps: number;
}

// Two loops without branches inside: one for the first step (no moments yet), one for the rest.

function firstStep(g: Float32Array, p: Float32Array, mOut: Float32Array, vOut: Float32Array, c: Moments): void {
  const { oneMinusB1, oneMinusB2, stepSize, bias2Sqrt, eps } = c;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]!;
    const m = f(gi * oneMinusB1);
    const v = f(f(gi * gi) * oneMinusB2);
    p[i] = p[i]! - f(f(m / f(f(f(Math.sqrt(v)) / bias2Sqrt) + eps)) * stepSize);
    mOut[i] = m;
    vOut[i] = v;
  }
}

function laterStep(
  g: Float32Array,
  m0: Float32Array,
  v0: Float32Array,
  p: Float32Array,
  mOut: Float32Array,
  vOut: Float32Array,
  c: Moments,
): void {
  const { oneMinusB1, b2, oneMinusB2, stepSize, bias2Sqrt, eps } = c;
  for (let i = 0; i < g.length; i++) {
    const gi = g[i]!;
    const mi = m0[i]!;
    const m = f(mi + f(f(gi - mi) * oneMinusB1));
    const v = f(f(v0[i]! * b2) + f(f(gi * gi) * oneMinusB2));
    p[i] = p[i]! - f(f(m / f(f(f(Math.sqrt(v)) / bias2Sqrt) + eps)) * stepSize);
    mOut[i] = m;
    vOut[i] = v;
  }
}
