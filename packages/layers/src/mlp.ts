import type { Tensor } from "@llm/tensor";
import { applyActivation, type ActivationName } from "./activations.js";
import type { Linear } from "./linear.js";
import { Module } from "./module.js";

/** Two projections with an activation between: down(act(up(x))). Names follow the checkpoint. */
export class MLP extends Module {
  readonly up: Linear;
  readonly down: Linear;

  constructor(
    names: { up: string; down: string },
    up: Linear,
    down: Linear,
    readonly activation: ActivationName,
  ) {
    super();
    this.up = this.addModule(names.up, up);
    this.down = this.addModule(names.down, down);
  }

  forward(x: Tensor): Tensor {
    return this.down.forward(applyActivation(this.activation, this.up.forward(x)));
  }
}

/** SwiGLU (LLaMA): down(act(gate(x)) * up(x)). */
export class GatedMLP extends Module {
  readonly gate: Linear;
  readonly up: Linear;
  readonly down: Linear;

  constructor(
    names: { gate: string; up: string; down: string },
    layers: { gate: Linear; up: Linear; down: Linear },
    readonly activation: ActivationName = "silu",
  ) {
    super();
    this.gate = this.addModule(names.gate, layers.gate);
    this.up = this.addModule(names.up, layers.up);
    this.down = this.addModule(names.down, layers.down);
  }

  forward(x: Tensor): Tensor {
    return this.down.forward(applyActivation(this.activation, this.gate.forward(x)).mul(this.up.forward(x)));
  }
}

export type FeedForward = MLP | GatedMLP;
