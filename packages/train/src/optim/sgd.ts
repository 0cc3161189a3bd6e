import type { Tensor } from "@llm/tensor";
import { TrainError, checkNumber } from "../errors.js";
import { Optimizer } from "./optimizer.js";
import type { ParamGroup, ParamGroupSpec, ParameterList } from "./params.js";

export interface SgdHyper {
  momentum: number;
  dampening: number;
  nesterov: boolean;
}

export interface SgdOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  nesterov?: boolean;
  /** L2 penalty added to the gradient (coupled, as torch.optim.SGD). */
  weightDecay?: number;
}

/**
 * SGD as torch.optim.SGD: g += wd p; with momentum, buf = g on the first step and
 * buf = momentum buf + (1 - dampening) g after; nesterov uses g + momentum buf; p -= lr * update.
 */
export class SGD extends Optimizer<SgdHyper> {
  constructor(params: ParameterList | readonly ParamGroupSpec<SgdHyper>[], options: SgdOptions = {}) {
    const momentum = options.momentum ?? 0;
    const dampening = options.dampening ?? 0;
    const nesterov = options.nesterov ?? false;
    checkNumber("SGD", "momentum", momentum, (v) => v >= 0, ">= 0");
    if (nesterov && (momentum <= 0 || dampening !== 0)) {
      throw new TrainError(`SGD: nesterov needs momentum > 0 and dampening 0, got momentum ${momentum}, dampening ${dampening}`);
    }
    super(params, { lr: options.lr ?? 1e-3, weightDecay: options.weightDecay ?? 0, hyper: { momentum, dampening, nesterov } }, "SGD");
  }

  protected update(p: Tensor, grad: Tensor, slots: Readonly<Record<string, Tensor>>, group: ParamGroup<SgdHyper>) {
    const { momentum, dampening, nesterov } = group.hyper;
    let g = group.weightDecay !== 0 ? grad.add(p.mul(group.weightDecay)) : grad;
    const out: Record<string, Tensor> = {};
    if (momentum !== 0) {
      const buf = slots.momentum_buffer ? slots.momentum_buffer.mul(momentum).add(g.mul(1 - dampening)) : g.add(0);
      out.momentum_buffer = buf;
      g = nesterov ? g.add(buf.mul(momentum)) : buf;
    }
    return { param: p.sub(g.mul(group.lr)), slots: out };
  }
}
