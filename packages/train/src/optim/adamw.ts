import { adamwStep, type Tensor } from "@llm/tensor";
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
    const [beta1, beta2] = group.hyper.betas;
    const hyper = { lr: group.lr, weightDecay: group.weightDecay, beta1, beta2, eps: group.hyper.eps, step: t };
    // @llm/tensor runs the backend's one-pass kernel where it has one, the same ops one by one otherwise
    const r = adamwStep(p, g, slots.exp_avg ?? null, slots.exp_avg_sq ?? null, hyper);
    return { param: r.param, slots: { exp_avg: r.expAvg, exp_avg_sq: r.expAvgSq } };
  }
}
