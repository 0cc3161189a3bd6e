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

export interface RMSNormOptions {
  eps?: number;
  /** The gain is weightOffset + weight: Gemma stores w and scales by (1 + w). Default 0. */
  weightOffset?: number;
}

/** RMSNorm (LLaMA): x / sqrt(mean(x^2) + eps) * (weightOffset + weight). */
export class RMSNorm extends Module {
  readonly weight: Tensor;
  readonly eps: number;
  readonly weightOffset: number;

  constructor(
    readonly dim: number,
    options: RMSNormOptions = {},
  ) {
    super();
    this.eps = options.eps ?? 1e-6;
    this.weightOffset = options.weightOffset ?? 0;
    this.weight = this.addParameter("weight", lazyZeros([dim]));
  }

  forward(x: Tensor): Tensor {
    return x.rmsNorm(this.weightOffset ? this.weight.add(this.weightOffset) : this.weight, this.eps);
  }

  /** A gain of 1: weight 1, or 0 under Gemma's offset of 1. */
  protected override resetParameters(_rng: Rng, _std: number): void {
    fillConstant(this.weight, 1 - this.weightOffset);
  }
}

/** Either norm: blocks only need forward. */
export type Norm = LayerNorm | RMSNorm;
