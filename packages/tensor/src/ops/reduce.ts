import type { ReduceOp } from "../backend.js";
import { normalizeAxes, normalizeAxis, shapesEqual, type Shape } from "../shape.js";
import type { Tensor } from "../tensor.js";
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
  const full = fromBuffer(x.backend, buffer, kept, x.dtype);
  const out = keepdim ? full : reshape(full, reducedShape(x.shape, axes, false));
  if (x.dtype !== "float32") return out;
  return record(out, op, [x], (g) => {
    const gk = expand(reshape(g, kept), x.shape);
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
  }, [full]);
}

export function mean(x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean): Tensor {
  requireDType(x, ["float32"], "mean");
  const axes = normalizeAxes(axis, x.rank, "mean");
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  return reduce("sum", x, axes, keepdim).div(count);
}

export function variance(x: Tensor, axis: number | readonly number[] | undefined, keepdim: boolean, unbiased: boolean): Tensor {
  const axes = normalizeAxes(axis, x.rank, "var");
  const count = axes.reduce((n, a) => n * x.shape[a]!, 1);
  const centered = x.sub(mean(x, axes, true));
  return reduce("sum", centered.mul(centered), axes, keepdim).div(Math.max(count - (unbiased ? 1 : 0), 1));
}

export function argmax(x: Tensor, axis: number, keepdim: boolean): Tensor {
  requireDType(x, ["float32", "int32"], "argmax");
  const a = normalizeAxis(axis, x.rank, "argmax");
  const kept = reducedShape(x.shape, [a], true);
  const out = fromBuffer(x.backend, x.backend.argmax(x.view(), a), kept, "int32");
  return keepdim ? out : reshape(out, reducedShape(x.shape, [a], false));
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
