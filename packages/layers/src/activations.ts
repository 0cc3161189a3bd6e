import { isGradEnabled, unaryOver, type Tensor, type UnaryOp } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";

/** Activation names as checkpoints' configs spell them, mapped to one of four functions. */
const ACTIVATIONS = {
  gelu: (x: Tensor) => x.gelu("none"),
  gelu_tanh: (x: Tensor) => x.gelu("tanh"),
  relu: (x: Tensor) => x.relu(),
  silu: (x: Tensor) => x.silu(),
} as const;

export type ActivationName = keyof typeof ACTIVATIONS;

const ALIASES: Record<string, ActivationName> = {
  gelu: "gelu",
  gelu_new: "gelu_tanh",
  gelu_pytorch_tanh: "gelu_tanh",
  gelu_fast: "gelu_tanh",
  gelu_tanh: "gelu_tanh",
  relu: "relu",
  silu: "silu",
  swish: "silu",
};

/** Resolves a config's activation name ("gelu_new", "swish", ...) or throws naming it. */
export function activationByName(name: string, where = "activation"): ActivationName {
  const found = ALIASES[name];
  if (!found) {
    throw new LayerArgumentError(`${where}: expected one of ${Object.keys(ALIASES).join(", ")}, found "${name}"`);
  }
  return found;
}

export function applyActivation(name: ActivationName, x: Tensor): Tensor {
  return ACTIVATIONS[name](x);
}

/**
 * The activation of x written over x's own elements where the backend can (see `unaryOver`), for
 * an intermediate its caller frees right after; otherwise as applyActivation. Inference only:
 * under autograd x may be what backward needs.
 */
export function applyActivationOver(name: ActivationName, x: Tensor): Tensor {
  const op: UnaryOp = name; // each activation is the unary op of its name
  return isGradEnabled() ? applyActivation(name, x) : unaryOver(op, x);
}
