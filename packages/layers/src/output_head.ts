import { lazyZeros, type Rng, type Tensor } from "@llm/tensor";
import type { Embedding } from "./embedding.js";
import { LayerArgumentError } from "./errors.js";
import { fillConstant, fillNormal } from "./init.js";
import { linearForward, type Linear, type LinearAdapter } from "./linear.js";
import { Module } from "./module.js";

export interface OutputHeadOptions {
  /** Reuse the token embedding as the projection (tied); its weight is then not a parameter here. */
  tiedTo?: Embedding;
  /** A learned bias per vocabulary entry (GPT-J). */
  bias?: boolean;
  /**
   * A projection applied first (OPT's project_out, from the model width to the embedding width).
   * Registered where the checkpoint names it, not under the head.
   */
  project?: Linear | null;
  /** Soft-caps the logits, cap * tanh(logits / cap) (Gemma 2's final_logit_softcapping). Default: none. */
  softcap?: number | null;
}

/**
 * Hidden states -> vocabulary logits, with its own [vocab, hidden] weight or the token embedding's
 * (tied: one tensor, listed once in stateDict under the embedding's name).
 */
export class OutputHead extends Module {
  private readonly ownWeight: Tensor | null;
  readonly bias: Tensor | null;
  /** Attached by LoraAdapters, as on a Linear (peft can adapt lm_head, a Linear in transformers). */
  adapter: LinearAdapter | null = null;
  /** The head as a Linear sees it: hidden in, vocabulary out, weight [out, in]. */
  readonly layout = "out_in";

  constructor(
    readonly hidden: number,
    readonly vocab: number,
    private readonly options: OutputHeadOptions = {},
  ) {
    super();
    this.ownWeight = options.tiedTo ? null : this.addParameter("weight", lazyZeros([vocab, hidden]));
    this.bias = options.bias ? this.addParameter("bias", lazyZeros([vocab])) : null;
    const cap = options.softcap ?? null;
    if (cap !== null && !(cap > 0 && Number.isFinite(cap))) {
      throw new LayerArgumentError(`OutputHead: softcap must be a positive number or null, found ${cap}`);
    }
  }

  /** The logit soft-cap, or null. */
  get softcap(): number | null {
    return this.options.softcap ?? null;
  }

  get tied(): boolean {
    return this.ownWeight === null;
  }

  /** [vocab, hidden], whichever tensor holds it. */
  get weight(): Tensor {
    return this.ownWeight ?? this.options.tiedTo!.weight;
  }

  get inFeatures(): number {
    return this.hidden;
  }

  get outFeatures(): number {
    return this.vocab;
  }

  forward(x: Tensor): Tensor {
    const projected = this.options.project ? this.options.project.forward(x) : x;
    const y = linearForward(projected, this.weight.transpose(0, 1), this.bias);
    // The adapter acts on the head's linear output (peft adapts lm_head), before any soft cap.
    const logits = this.adapter ? this.adapter.forward(projected, y) : y;
    const cap = this.softcap;
    return cap === null ? logits : logits.div(cap).tanh().mul(cap);
  }

  protected override resetParameters(rng: Rng, std: number): void {
    if (this.ownWeight) fillNormal(this.ownWeight, rng, std);
    if (this.bias) fillConstant(this.bias, 0);
  }
}
