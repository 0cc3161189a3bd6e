import { binaryOver, isGradEnabled, type Tensor } from "@llm/tensor";
import { applyActivation, applyActivationOver, type ActivationName } from "./activations.js";
import { LayerArgumentError } from "./errors.js";
import { freeIntermediate } from "./intermediate.js";
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
    const up = this.up.forward(x);
    const hidden = applyActivationOver(this.activation, up);
    freeIntermediate(up, hidden);
    const out = this.down.forward(hidden);
    freeIntermediate(hidden, out);
    return out;
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
    const gate = this.gate.forward(x);
    const activated = applyActivationOver(this.activation, gate);
    freeIntermediate(gate, activated);
    const up = this.up.forward(x);
    const hidden = isGradEnabled() ? activated.mul(up) : binaryOver("mul", activated, up);
    freeIntermediate(activated, hidden);
    freeIntermediate(up, hidden);
    const out = this.down.forward(hidden);
    freeIntermediate(hidden, out);
    return out;
  }
}

/**
 * A gated MLP whose gate and up projections are one matrix, stored as the checkpoint stores it
 * (Phi-3's gate_up_proj: the gate's rows, then the up's): down(act(gate) * up).
 */
export class FusedGatedMLP extends Module {
  readonly gateUp: Linear;
  readonly down: Linear;

  constructor(
    names: { gateUp: string; down: string },
    layers: { gateUp: Linear; down: Linear },
    readonly activation: ActivationName = "silu",
  ) {
    super();
    if (layers.gateUp.outFeatures !== 2 * layers.down.inFeatures) {
      throw new LayerArgumentError(
        `FusedGatedMLP: ${names.gateUp} must have 2 x ${layers.down.inFeatures} outputs (gate and up for ${names.down}), found ${layers.gateUp.outFeatures}`,
      );
    }
    this.gateUp = this.addModule(names.gateUp, layers.gateUp);
    this.down = this.addModule(names.down, layers.down);
  }

  forward(x: Tensor): Tensor {
    const inner = this.down.inFeatures;
    const both = this.gateUp.forward(x);
    return this.down.forward(applyActivation(this.activation, both.slice(-1, 0, inner)).mul(both.slice(-1, inner)));
  }
}

export type FeedForward = MLP | GatedMLP | FusedGatedMLP;
