import { binaryOver, isGradEnabled, lazyZeros, type Rng, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";
import { fillConstant, fillNormal } from "./init.js";
import { Module } from "./module.js";
import { freeIntermediate } from "./intermediate.js";

export interface LinearOptions {
  /** Add a bias (default true). */
  bias?: boolean;
  /**
   * How the weight is stored: "out_in" is torch.nn.Linear's [out, in]; "in_out" is GPT-2's
   * Conv1D [in, out]. Keeping the checkpoint's own layout means its tensors load as they are.
   */
  layout?: "out_in" | "in_out";
}

/**
 * What a Linear adds to its own output when something is attached to it (LoRA adapters): it sees
 * the input and the base output only, so the base weight may be of any dtype.
 */
export interface LinearAdapter {
  forward(x: Tensor, baseOutput: Tensor): Tensor;
}

/** y = x W^T + b over the last axis. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly layout: "out_in" | "in_out";
  /** Attached by LoraAdapters (not a submodule: the base's state dict and saved files stay as they are). */
  adapter: LinearAdapter | null = null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions = {},
  ) {
    super();
    for (const [name, n] of [
      ["inFeatures", inFeatures],
      ["outFeatures", outFeatures],
    ] as const) {
      if (!Number.isInteger(n) || n < 1) throw new LayerArgumentError(`Linear: ${name} must be a positive integer, found ${n}`);
    }
    this.layout = options.layout ?? "out_in";
    const shape = this.layout === "out_in" ? [outFeatures, inFeatures] : [inFeatures, outFeatures];
    this.weight = this.addParameter("weight", lazyZeros(shape));
    this.bias = options.bias === false ? null : this.addParameter("bias", lazyZeros([outFeatures]));
  }

  /** The weight as [in, out], a view either way. */
  get weightInOut(): Tensor {
    return this.layout === "in_out" ? this.weight : this.weight.transpose(0, 1);
  }

  forward(x: Tensor): Tensor {
    const last = x.shape[x.rank - 1];
    if (last !== this.inFeatures) {
      throw new LayerArgumentError(`Linear: expected input with last dim ${this.inFeatures}, found shape [${x.shape.join(",")}]`);
    }
    const y = linearForward(x, this.weightInOut, this.bias);
    return this.adapter ? this.adapter.forward(x, y) : y;
  }

  protected override resetParameters(rng: Rng, std: number): void {
    fillNormal(this.weight, rng, std);
    if (this.bias) fillConstant(this.bias, 0);
  }
}

/** x [..., in] times weight [in, out] (+ bias [out]); tied output heads use it with a transposed embedding. */
export function linearForward(x: Tensor, weightInOut: Tensor, bias: Tensor | null = null): Tensor {
  const [inFeatures, outFeatures] = weightInOut.shape as [number, number];
  // One 2-D matmul over all rows: the weight is not broadcast over batch dims.
  const rows = x.rank === 2 ? x : x.reshape(-1, inFeatures);
  let y = rows.matmul(weightInOut);
  if (bias) {
    const product = y;
    y = isGradEnabled() ? y.add(bias) : binaryOver("add", y, bias); // inference: into the product
    freeIntermediate(product, y);
  }
  if (x.rank === 2) return y;
  const out = y.reshape([...x.shape.slice(0, -1), outFeatures]);
  freeIntermediate(y, out);
  return out;
}
