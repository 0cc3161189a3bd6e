import type { AdamWStep } from "../backend.js";
import { ArgumentError, ShapeError, fmtShape } from "../errors.js";
import { shapesEqual } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, requireFloat, sameBackend } from "./core.js";

/** A parameter and its two moment estimates after one AdamW step. */
export interface AdamWResult {
  param: Tensor;
  expAvg: Tensor;
  expAvgSq: Tensor;
}

/**
 * One AdamW step of one float32 parameter, as torch.optim.AdamW's single-tensor path computes it:
 * decay p *= 1 - lr*wd, then m = lerp(m, g, 1-b1), v = b2 v + (1-b2) g^2,
 * p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps), with t = `h.step` (from 1). `expAvg` and
 * `expAvgSq` are null on a parameter's first step. Returns new tensors; the inputs are untouched.
 *
 * A backend with the fused kernel runs it in one pass with the same float32 rounding of each op
 * (bit for bit the composition below, tested so); otherwise the ops below run one by one.
 */
export function adamwStep(param: Tensor, grad: Tensor, expAvg: Tensor | null, expAvgSq: Tensor | null, h: AdamWStep): AdamWResult {
  const backend = sameBackend("adamwStep", ...[param, grad, expAvg, expAvgSq].filter((t): t is Tensor => t !== null));
  for (const [name, t] of [
    ["param", param],
    ["grad", grad],
    ["expAvg", expAvg],
    ["expAvgSq", expAvgSq],
  ] as const) {
    if (!t) continue;
    requireFloat(t, "adamwStep", name);
    if (!shapesEqual(t.shape, param.shape)) {
      throw new ShapeError(`adamwStep: ${name} must have the parameter's shape ${fmtShape(param.shape)}, found ${fmtShape(t.shape)}`);
    }
  }
  if ((expAvg === null) !== (expAvgSq === null))
    throw new ArgumentError("adamwStep: expAvg and expAvgSq must both be given or both be null");
  if (!Number.isInteger(h.step) || h.step < 1) throw new ArgumentError(`adamwStep: step must be an integer >= 1, found ${h.step}`);

  const fused = backend.fused?.adamwStep;
  if (fused) {
    const r = fused(param.view(), grad.view(), expAvg?.view() ?? null, expAvgSq?.view() ?? null, h);
    const wrap = (b: typeof r.param) => fromBuffer(backend, b, param.shape, "float32");
    return { param: wrap(r.param), expAvg: wrap(r.expAvg), expAvgSq: wrap(r.expAvgSq) };
  }
  const { lr, weightDecay, beta1: b1, beta2: b2, eps, step: t } = h;
  let p = weightDecay !== 0 ? param.mul(1 - lr * weightDecay) : param;
  const m = expAvg ? expAvg.add(grad.sub(expAvg).mul(1 - b1)) : grad.mul(1 - b1);
  const v = expAvgSq ? expAvgSq.mul(b2).add(grad.mul(grad).mul(1 - b2)) : grad.mul(grad).mul(1 - b2);
  const stepSize = lr / (1 - b1 ** t);
  const denom = v
    .sqrt()
    .div(Math.sqrt(1 - b2 ** t))
    .add(eps);
  p = p.sub(m.div(denom).mul(stepSize));
  return { param: p, expAvg: m, expAvgSq: v };
}
