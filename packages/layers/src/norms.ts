import { lazyZeros, type Rng, type Tensor } from "@llm/tensor";
import { fillConstant } from "./init.js";
import { Module } from "./module.js";

export interface LayerNormOptions {
  eps?: number;
  /** Learn a bias (default true; MPT's norms have none). */
  bias?: boolean;
  /** Learn a gain (and bias) at all (default true; OPT's layer_norm_elementwise_affine=false has neither). */
  affine?: boolean;
}

/** LayerNorm over the last axis with a learned gain and, optionally, a bias. */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: LayerNormOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-5;
    const affine = options.affine ?? true;
    this.weight = affine ? this.addParameter("weight", lazyZeros([dim])) : null;
    this.bias = affine && options.bias !== false ? this.addParameter("bias", lazyZeros([dim])) : null;
  }

  forward(x: Tensor): Tensor {
    return x.layerNorm(this.weight, this.bias, this.eps);
  }

  protected override resetParameters(_rng: Rng, _std: number): void {
    if (this.weight) fillConstant(this.weight, 1);
    if (this.bias) fillConstant(this.bias, 0);
  }
}

/** RMSNorm (LLaMA): x / sqrt(mean(x^2) + eps) * weight. */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  readonly eps: number;

  constructor(
    readonly dim: number,
    options: { eps?: number } = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-6;
    this.weight = this.addParameter("weight", lazyZeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return x.rmsNorm(this.weight, this.eps);
  }

  protected override resetParameters(_rng: Rng, _std: number): void {
    fillConstant(this.weight, 1);
  }
}

/** Either norm: blocks only need forward. */
export type Norm = LayerNorm | RMSNorm;
