import { isFloating, isQuantized, keep, noGrad, rand, tidy, type Rng, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import { linearForward, type LinearAdapter } from "../linear.js";
import type { LoraLayerSettings } from "./config.js";

/**
 * What LoRA adapts: a Linear, or an OutputHead (peft adapts lm_head, a Linear in transformers).
 * Forward needs only the layer's own forward; merging writes into `weight`.
 */
export interface AdaptableLayer {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Tensor;
  readonly layout: "out_in" | "in_out";
  readonly training: boolean;
  /** An output head that reuses the token embedding (merging into it would change the embedding too). */
  readonly tied?: boolean;
  adapter: LinearAdapter | null;
}

/** One adapter on one Linear: y += dropout(x) A^T B^T * scaling, A [r, in], B [out, r]. */
export interface LoraWeights extends LoraLayerSettings {
  /** lora_A: [rank, inFeatures]. */
  readonly A: Tensor;
  /** lora_B: [outFeatures, rank]. */
  readonly B: Tensor;
}

/**
 * The LoRA adapters attached to one Linear (its `adapter`). The base layer is only ever run
 * (never read) in the forward pass, so a frozen base of any dtype works; merging writes into its
 * weight and so needs a floating-point one.
 */
export class LoraLayer implements LinearAdapter {
  readonly adapters = new Map<string, LoraWeights>();
  /** Adapters applied in forward, in order. */
  active: readonly string[] = [];
  /** Adapters whose delta is in the base weight now (forward skips them), in merge order. */
  readonly merged: string[] = [];

  constructor(
    readonly base: AdaptableLayer,
    /** The base layer's dotted name in the model. */
    readonly name: string,
    private readonly rng: Rng,
  ) {}

  add(adapter: string, weights: LoraWeights): void {
    const { A, B, rank } = weights;
    const expectA = [rank, this.base.inFeatures];
    const expectB = [this.base.outFeatures, rank];
    for (const [what, t, expect] of [
      ["lora_A", A, expectA],
      ["lora_B", B, expectB],
    ] as const) {
      if (t.dtype !== "float32" || t.shape.length !== 2 || t.shape[0] !== expect[0] || t.shape[1] !== expect[1]) {
        throw new LayerArgumentError(
          `LoRA ${this.name}.${what}.${adapter}: expected float32 [${expect.join(", ")}], found ${t.dtype} [${t.shape.join(", ")}]`,
        );
      }
    }
    this.adapters.set(adapter, weights);
  }

  forward(x: Tensor, baseOutput: Tensor): Tensor {
    let y = baseOutput;
    for (const name of this.active) {
      if (this.merged.includes(name)) continue;
      const a = this.adapters.get(name);
      if (!a) continue;
      const input = a.dropout > 0 && this.base.training ? dropout(x, a.dropout, this.rng) : x;
      // peft: lora_B(lora_A(dropout(x))) * scaling, in that order.
      y = y.add(linearForward(linearForward(input, a.A.transpose(0, 1)), a.B.transpose(0, 1)).mul(a.scaling));
    }
    return y;
  }

  /** B A * scaling, laid out as the base weight ([out, in], or [in, out] for a Conv1D-style layer). */
  delta(adapter: string): Tensor {
    const a = this.adapters.get(adapter)!;
    const delta = a.B.matmul(a.A).mul(a.scaling);
    return this.base.layout === "in_out" ? delta.transpose(0, 1) : delta;
  }

  /** Adds the adapter's delta to the base weight. */
  merge(adapter: string): void {
    if (this.merged.includes(adapter)) return;
    this.applyDelta(adapter, 1);
    this.merged.push(adapter);
  }

  /** Subtracts what merge added (the weight comes back up to float rounding, as in peft). */
  unmerge(adapter: string): void {
    const at = this.merged.indexOf(adapter);
    if (at < 0) return;
    this.applyDelta(adapter, -1);
    this.merged.splice(at, 1);
  }

  private applyDelta(adapter: string, sign: 1 | -1): void {
    const weight = this.base.weight;
    if (this.base.tied) {
      throw new LayerArgumentError(
        `LoRA: cannot merge adapter "${adapter}" into ${this.name}: the head's weight is the token embedding's, which would change too (use the adapter unmerged)`,
      );
    }
    if (!isFloating(weight.dtype) || isQuantized(weight.dtype)) {
      // Requantizing base + delta would round the adapter away (what is left of it is below the block
      // scales' step), so we keep it unmerged rather than merge it lossily.
      throw new LayerArgumentError(
        `LoRA: cannot merge adapter "${adapter}" into ${this.name}.weight: it is ${weight.dtype}; merging needs a float32, float16 or bfloat16 weight (use the adapter unmerged over a quantized base, or load the base with dtype "float32" to merge)`,
      );
    }
    noGrad(() => {
      const next = keep(
        tidy(() => {
          const delta = this.delta(adapter);
          const sum = weight.dtype === "float32" ? weight.add(delta.mul(sign)) : weight.float().add(delta.mul(sign)).cast(weight.dtype);
          return sum;
        }),
      );
      weight.assign(next);
      next.dispose();
    });
  }
}

/** Inverted dropout: zero each element with probability p, scale the rest by 1 / (1 - p). */
export function dropout(x: Tensor, p: number, rng: Rng): Tensor {
  const keepMask = rand(x.shape, { rng, backend: x.backend }).ge(p).float();
  return x.mul(keepMask).mul(1 / (1 - p));
}
