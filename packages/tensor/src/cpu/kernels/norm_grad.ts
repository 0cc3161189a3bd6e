import type { NormGrads, StridedView } from "../../backend.js";
import { CpuBuffer } from "../buffer.js";
import { toFloat32 } from "./cast.js";
import { allocUninit } from "../pool.js";
import { residentNormGrad } from "../resident/train.js";

// The backward passes of layerNorm and rmsNorm over the last axis, one row at a time with
// float64 temporaries: what autograd composes from a dozen full-size ops otherwise.

const f32 = (a: Float64Array): CpuBuffer => new CpuBuffer(Float32Array.from(a), "float32");

/** The operands as float32 arrays, the row count R and width L, dx's array and the weight-gradient sums. */
function operands(x: StridedView, weight: StridedView | null, g: StridedView) {
  const xs = toFloat32(x);
  const L = x.shape[x.shape.length - 1] ?? 1;
  return {
    xs,
    gs: toFloat32(g),
    w: weight ? toFloat32(weight) : null,
    L,
    R: L === 0 ? 0 : xs.length / L,
    dx: allocUninit("float32", xs.length) as Float32Array,
    dw: weight ? new Float64Array(L) : null,
  };
}

export function layerNormGrad(x: StridedView, weight: StridedView | null, g: StridedView, eps: number, withBias: boolean): NormGrads {
  const resident = residentNormGrad(true, x, weight, g, eps, withBias);
  if (resident) return resident;
  const { xs, gs, w, L, R, dx, dw } = operands(x, weight, g);
  const db = withBias ? new Float64Array(L) : null;
  const xhat = new Float64Array(L);
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let sum = 0;
    for (let i = 0; i < L; i++) sum += xs[o + i]!;
    const mean = sum / L;
    let sq = 0;
    for (let i = 0; i < L; i++) {
      const d = xs[o + i]! - mean;
      sq += d * d;
    }
    const rstd = 1 / Math.sqrt(sq / L + eps);
    // dx = rstd (dxhat - mean(dxhat) - xhat mean(dxhat xhat)), dxhat = g w
    let sumD = 0;
    let sumDX = 0;
    for (let i = 0; i < L; i++) {
      const xh = (xs[o + i]! - mean) * rstd;
      xhat[i] = xh;
      const gi = gs[o + i]!;
      const d = w ? gi * w[i]! : gi;
      sumD += d;
      sumDX += d * xh;
      if (dw) dw[i]! += gi * xh;
      if (db) db[i]! += gi;
    }
    const meanD = sumD / L;
    const meanDX = sumDX / L;
    for (let i = 0; i < L; i++) {
      const d = w ? gs[o + i]! * w[i]! : gs[o + i]!;
      dx[o + i] = (d - meanD - xhat[i]! * meanDX) * rstd;
    }
  }
  return { dx: new CpuBuffer(dx, "float32"), dweight: dw ? f32(dw) : null, dbias: db ? f32(db) : null };
}

export function rmsNormGrad(x: StridedView, weight: StridedView | null, g: StridedView, eps: number): NormGrads {
  const resident = residentNormGrad(false, x, weight, g, eps, false);
  if (resident) return resident;
  const { xs, gs, w, L, R, dx, dw } = operands(x, weight, g);
  for (let r = 0, o = 0; r < R; r++, o += L) {
    let sq = 0;
    for (let i = 0; i < L; i++) sq += xs[o + i]! * xs[o + i]!;
    const rstd = 1 / Math.sqrt(sq / L + eps);
    // dx = dxh rstd - x rstd^3 mean(dxh x), dxh = g w
    let sumDX = 0;
    for (let i = 0; i < L; i++) {
      const gi = gs[o + i]!;
      sumDX += (w ? gi * w[i]! : gi) * xs[o + i]!;
      if (dw) dw[i]! += gi * xs[o + i]! * rstd;
    }
    const k = rstd * rstd * rstd * (sumDX / L);
    for (let i = 0; i < L; i++) {
      const d = w ? gs[o + i]! * w[i]! : gs[o + i]!;
      dx[o + i] = d * rstd - xs[o + i]! * k;
    }
  }
  return { dx: new CpuBuffer(dx, "float32"), dweight: dw ? f32(dw) : null, dbias: null };
}
