import { fromBuffer, type BackendBuffer, type Tensor } from "@llm/tensor";
import { checkNumber } from "../errors.js";
import { Optimizer } from "./optimizer.js";
import type { ParamGroup, ParamGroupSpec, ParameterList } from "./params.js";

export interface AdamHyper {
  betas: readonly [number, number];
  eps: number;
}

export interface AdamWOptions {
  lr?: number;
  betas?: readonly [number, number];
  eps?: number;
  /** Decoupled weight decay (default 0.01, as torch). */
  weightDecay?: number;
}

/**
 * AdamW as torch.optim.AdamW computes it (single-tensor path): decay p *= 1 - lr*wd, then
 * m = lerp(m, g, 1-b1), v = b2 v + (1-b2) g^2, p -= lr/(1-b1^t) * m / (sqrt(v)/sqrt(1-b2^t) + eps).
 * t counts the steps each parameter took.
 */
export class AdamW extends Optimizer<AdamHyper> {
  constructor(params: ParameterList | readonly ParamGroupSpec<AdamHyper>[], options: AdamWOptions = {}) {
    const betas = options.betas ?? [0.9, 0.999];
    const eps = options.eps ?? 1e-8;
    betas.forEach((b, i) => checkNumber("AdamW", `betas[${i}]`, b, (v) => v >= 0 && v < 1, "in [0, 1)"));
    checkNumber("AdamW", "eps", eps, (v) => v >= 0, ">= 0");
    super(params, { lr: options.lr ?? 1e-3, weightDecay: options.weightDecay ?? 1e-2, hyper: { betas, eps } }, "AdamW");
  }

  protected update(p: Tensor, g: Tensor, slots: Readonly<Record<string, Tensor>>, group: ParamGroup<AdamHyper>, t: number) {
    const [b1, b2] = group.hyper.betas;
    const fused = p.backend.fused?.adamwStep;
    if (fused && p.dtype === "float32") {
      // one pass, the same float32 arithmetic as the ops below
      const r = fused(p.view(), g.view(), slots.exp_avg?.view() ?? null, slots.exp_avg_sq?.view() ?? null, {
        lr: group.lr,
        weightDecay: group.weightDecay,
        beta1: b1,
        beta2: b2,
        eps: group.hyper.eps,
        step: t,
      });
      const wrap = (b: BackendBuffer) => fromBuffer(p.backend, b, p.shape, "float32");
      return { param: wrap(r.param), slots: { exp_avg: wrap(r.expAvg), exp_avg_sq: wrap(r.expAvgSq) } };
    }
    let param = group.weightDecay !== 0 ? p.mul(1 - group.lr * group.weightDecay) : p;
    const m = slots.exp_avg ? slots.exp_avg.add(g.sub(slots.exp_avg).mul(1 - b1)) : g.mul(1 - b1);
    const v = slots.exp_avg_sq ? slots.exp_avg_sq.mul(b2).add(g.mul(g).mul(1 - b2)) : g.mul(g).mul(1 - b2);
    const stepSize = group.lr / (1 - b1 ** t);
    const denom = v.sqrt().div(Math.sqrt(1 - b2 ** t)).add(group.hyper.eps);
    param = param.sub(m.div(denom).mul(stepSize));
    return { param, slots: { exp_avg: m, exp_avg_sq: v } };
  }
}
