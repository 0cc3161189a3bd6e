import type { UnaryOp } from "../backend.js";
import { isGradEnabled } from "../engine.js";
import { broadcastShapes, shapesEqual } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { broadcastView } from "./core.js";
import { binary, unary } from "./elementwise.js";

/**
 * Whether x's elements may be overwritten with a result no autograd graph can need: x is float32,
 * contiguous from the start of its buffer, the only tensor on it, not kept, and no graph records
 * (`others` are the op's other operands).
 */
function overwritable(x: Tensor, others: readonly Tensor[]): boolean {
  if (isGradEnabled() && (x.requiresGrad || others.some((t) => t.requiresGrad))) return false;
  return x.dtype === "float32" && !x.kept && x.offset === 0 && x.isContiguous && x.storage.refs === 1;
}

/**
 * `x.op()` written over x's own elements, where that is safe and the backend can (see
 * overwritable; the CPU backend's resident GELU-tanh and SiLU): x itself is returned, holding the
 * result. Otherwise a new tensor as `unary` gives, x untouched. For inference code that frees x
 * right after (an MLP's up-projection, once activated): the result then needs no memory of its
 * own, 1.5 MiB at GPT-2-small's 128-token prompt, 12 MiB at 1,024.
 */
export function unaryOver(op: UnaryOp, x: Tensor): Tensor {
  if (overwritable(x, []) && x.backend.unaryInPlace?.(op, x.view())) return x;
  return unary(op, x);
}

/**
 * `a.op(b)` written over a's own elements (add, sub, mul, div; b broadcast to a's shape), where
 * that is safe and the backend can (see overwritable): a itself is returned, holding the result.
 * Otherwise a new tensor as `binary` gives, a untouched. For inference code that frees a right
 * after (a matmul's product, once its bias is added).
 */
export function binaryOver(op: "add" | "sub" | "mul" | "div", a: Tensor, b: Tensor): Tensor {
  if (
    a !== b &&
    b.dtype === a.dtype &&
    b.backend === a.backend &&
    overwritable(a, [b]) &&
    shapesEqual(broadcastShapes(a.shape, b.shape, op), a.shape) &&
    a.backend.binaryInPlace?.(op, a.view(), broadcastView(b, a.shape))
  )
    return a;
  return binary(op, a, b);
}
