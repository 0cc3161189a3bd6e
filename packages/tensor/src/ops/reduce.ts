import type { ReduceOp } from "../backend.js";
import { normalizeAxes, normalizeAxis, shapesEqual, type Shape } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { tidy } from "../engine.js";
import { fromBuffer, record, requireDType } from "./core.js";
import { expand, reshape } from "./views.js";

/** Shape after reducing `axes`: kept as 1s, or dropped. */
function reducedShape(shape: Shape, axes: readonly number[], keepdim: boolean): number[] {
  return keepdim ? shape.map((d, i) => (axes.includes(i) ? 1 : d)) : shape.filter((_, i) => !axes.includes(i));
}

export function reduce(op: ReduceOp, x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  requireDType(x, ["float32", "int32"], op);
  const axes = normalizeAxes(axis, x.rank, op);
  const kept = reducedShape(x.shape, axes, true);
  const buffer = axes.length === 0 ? x.backend.copy(x.view()) : x.backend.reduce(op, x.view(), axes);
  // Kept or dropped, the reduced dims have size 1, so both shapes fit the same contiguous buffer.
  const out = fromBuffer(x.backend, buffer, keepdim ? kept : reducedShape(x.shape, axes, false), x.dtype);
  if (x.dtype !== "float32") return out;
  return record(out, op, [x], (g) => {
    const gk = expand(reshape(g, kept), x.shape);
    const full = reshape(out, kept);
    switch (op) {
      case "sum":
        return [gk];
      case "prod":
        return [gk.mul(full).div(x)];
      case "max":
      case "min": {
        // Ties share the gradient equally, as torch.amax does.
        const hits = x.eq(full).float();
        return [gk.mul(hits).div(hits.sum(axes, true))];
      }
    }
  });
}

export function mean(x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  requireDType(x, ["float32"], "mean");
  const axes = normalizeAxes(axis, x.rank, "mean");
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return tidy(() => reduce("sum", x, axes, keepdim).div(count));
}

export function variance(x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean, unbiased: boolean): Tensor {
  const axes = normalizeAxes(axis, x.rank, "var");
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return tidy(() => {
    const centered = x.sub(mean(x, axes, true));
    return reduce("sum", centered.mul(centered), axes, keepdim).div(Math.max(count - (unbiased ? 1 : 0), 1));
  });
}

export function argmax(x: Tensor, axis: number, keepdim: boolean): Tensor {
  requireDType(x, ["float32", "int32"], "argmax");
  const a = normalizeAxis(axis, x.rank, "argmax");
  const shape = reducedShape(x.shape, [a], keepdim);
  return fromBuffer(x.backend, x.backend.argmax(x.view(), a), shape, "int32");
}

/** Sums a broadcast gradient back to the shape of the operand it came from. */
export function sumToShape(g: Tensor, shape: Shape): Tensor {
  if (shapesEqual(g.shape, shape)) return g;
  const lead = g.rank - shape.length;
  const axes: number[] = [];
  for (let i = 0; i < g.rank; i++) {
    if (i < lead || (shape[i - lead] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  const summed = axes.length ? reduce("sum", g, axes, true) : g;
  return reshape(summed, shape);
}
