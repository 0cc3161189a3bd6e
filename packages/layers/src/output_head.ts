import { zeros, type Rng, type Tensor } from "@llm/tensor";
import type { Embedding } from "./embedding.js";
import { fillConstant, fillNormal } from "./init.js";
import { linearForward } from "./linear.js";
import { Module } from "./module.js";

export interface OutputHeadOptions {
  /** Reuse the token embedding as the projection (tied); its weight is then not a parameter here. */
  tiedTo?: Embedding;
  /** A learned bias per vocabulary entry (GPT-J). */
  bias?: boolean;
}

/** Hidden states -> vocabulary logits, with its own [vocab, hidden] weight or the embedding's. */
export class OutputHead extends Module {
  private readonly ownWeight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    readonly hidden: number,
    readonly vocab: number,
    private readonly options: OutputHeadOptions = {},
  ) {
    super();
    this.ownWeight = options.tiedTo ? null : this.addParameter("weight", zeros([vocab, hidden]));
    this.bias = options.bias ? this.addParameter("bias", zeros([vocab])) : null;
  }

  get tied(): boolean {
    return this.ownWeight === null;
  }

  /** [vocab, hidden], whichever tensor holds it. */
  get weight(): Tensor {
    return this.ownWeight ?? this.options.tiedTo!.weight;
  }

  forward(x: Tensor): Tensor {
    return linearForward(x, this.weight.transpose(0, 1), this.bias);
  }

  protected override resetParameters(rng: Rng, std: number): void {
    if (this.ownWeight) fillNormal(this.ownWeight, rng, std);
    if (this.bias) fillConstant(this.bias, 0);
  }
}
