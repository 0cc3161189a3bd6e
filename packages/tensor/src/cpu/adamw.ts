import type { AdamWBuffers, AdamWStep, StridedView } from "../backend.js";
import { CpuBuffer } from "./buffer.js";
import { toFloat32 } from "./cast.js";
import { allocUninit } from "./pool.js";

const f = Math.fround;

/**
 * One AdamW step in one pass over the parameter. Each line rounds to float32 where
 * torch.optim.AdamW's single-tensor path (and @llm/train's op-by-op AdamW) stores a float32
 * tensor, so the result is the same bit for bit, in one pass instead of about fourteen:
 *   p *= 1 - lr wd;  m = m + (g - m)(1 - b1);  v = v b2 + g g (1 - b2)
 *   p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
 */
export function adamwStep(param: StridedView, grad: StridedView, expAvg: StridedView | null, expAvgSq: StridedView | null, h: AdamWStep): AdamWBuffers {
  const p = toFloat32(param);
  const g = toFloat32(grad);
  const m0 = expAvg ? toFloat32(expAvg) : null;
  const v0 = expAvgSq ? toFloat32(expAvgSq) : null;
  const n = p.length;
  const pOut = allocUninit("float32", n) as Float32Array;
  const mOut = allocUninit("float32", n) as Float32Array;
  const vOut = allocUninit("float32", n) as Float32Array;
  const decay = h.weightDecay !== 0 ? f(1 - h.lr * h.weightDecay) : 1;
  const oneMinusB1 = f(1 - h.beta1);
  const b2 = f(h.beta2);
  const oneMinusB2 = f(1 - h.beta2);
  const stepSize = f(h.lr / (1 - h.beta1 ** h.step));
  const bias2Sqrt = f(Math.sqrt(1 - h.beta2 ** h.step));
  const eps = f(h.eps);
  for (let i = 0; i < n; i++) {
    const gi = g[i]!;
    const pi = h.weightDecay !== 0 ? f(p[i]! * decay) : p[i]!;
    const m = m0 ? f(m0[i]! + f(f(gi - m0[i]!) * oneMinusB1)) : f(gi * oneMinusB1);
    const gg = f(f(gi * gi) * oneMinusB2);
    const v = v0 ? f(f(v0[i]! * b2) + gg) : gg;
    const denom = f(f(f(Math.sqrt(v)) / bias2Sqrt) + eps);
    pOut[i] = pi - f(f(m / denom) * stepSize);
    mOut[i] = m;
    vOut[i] = v;
  }
  return { param: new CpuBuffer(pOut, "float32"), expAvg: new CpuBuffer(mOut, "float32"), expAvgSq: new CpuBuffer(vOut, "float32") };
}
