import { ArgumentError, ShapeError, fmtShape } from "../errors.js";
import { checkShape, contiguousStrides, normalizeAxis, shapesEqual, sizeOf } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, record, viewOf } from "./core.js";
import { arange, zeros } from "./creation.js";
import { scatterAdd } from "./indexing.js";
import { sumToShape } from "./reduce.js";
import { writeInto } from "./write.js";

/** Copies only when the layout is not already row-major. */
export function contiguous(x: Tensor): Tensor {
  if (x.isContiguous) return x;
  const out = fromBuffer(x.backend, x.backend.copy(x.view()), x.shape, x.dtype);
  return record(out, "contiguous", [x], (g) => [g]);
}

export function reshape(x: Tensor, shapeIn: readonly number[]): Tensor {
  const shape = resolveShape(shapeIn, x.size, x.shape);
  if (shapesEqual(shape, x.shape)) return x;
  const strides = x.isContiguous ? contiguousStrides(shape) : viewStrides(x.shape, x.strides, shape);
  const out = strides ? viewOf(x, shape, strides, x.offset) : fromBuffer(x.backend, x.backend.copy(x.view()), shape, x.dtype);
  return record(out, "reshape", [x], (g) => [reshape(g, x.shape)]);
}

/**
 * Strides that show a strided layout's elements, in row-major order, as `shape` without a copy
 * (torch's view rule: each run of dims that steps through memory as one is split or merged
 * freely), or null where there are none (then reshape copies). A slice of the last axis reshaped
 * to heads, [B, T, 3C] -> q [B, T, H, D], stays a view so.
 */
function viewStrides(from: readonly number[], fromStrides: readonly number[], shape: readonly number[]): number[] | null {
  if (from.length === 0 || sizeOf(from) === 0) return contiguousStrides(shape);
  const strides = new Array<number>(shape.length);
  let d = shape.length - 1;
  let base = fromStrides[from.length - 1]!;
  let runSize = 1;
  let viewSize = 1;
  for (let i = from.length - 1; i >= 0; i--) {
    runSize *= from[i]!;
    // the run of dims [i, ...) ends where dim i - 1 does not step over it as one
    if (i === 0 || (from[i - 1] !== 1 && fromStrides[i - 1] !== runSize * base)) {
      while (d >= 0 && (viewSize < runSize || shape[d] === 1)) {
        strides[d] = viewSize * base;
        viewSize *= shape[d]!;
        d--;
      }
      if (viewSize !== runSize) return null;
      if (i > 0) {
        base = fromStrides[i - 1]!;
        runSize = 1;
        viewSize = 1;
      }
    }
  }
  return d === -1 ? strides : null;
}

function resolveShape(shapeIn: readonly number[], size: number, from: readonly number[]): number[] {
  const shape = [...shapeIn];
  const unknown = shape.indexOf(-1);
  if (unknown !== shape.lastIndexOf(-1)) throw new ShapeError(`reshape: at most one -1 is allowed, got ${fmtShape(shape)}`);
  if (unknown >= 0) {
    const known = sizeOf(shape.filter((_, i) => i !== unknown));
    if (known === 0 || size % known !== 0) {
      throw new ShapeError(`reshape: cannot reshape ${fmtShape(from)} (${size} elements) into ${fmtShape(shape)}`);
    }
    shape[unknown] = size / known;
  }
  checkShape(shape, "reshape");
  if (sizeOf(shape) !== size) {
    throw new ShapeError(
      `reshape: cannot reshape ${fmtShape(from)} (${size} elements) into ${fmtShape(shape)} (${sizeOf(shape)} elements)`,
    );
  }
  return shape;
}

export function flatten(x: Tensor, start: number, end: number): Tensor {
  if (x.rank === 0) return reshape(x, [1]);
  const s = normalizeAxis(start, x.rank, "flatten");
  const e = normalizeAxis(end, x.rank, "flatten");
  if (e < s) throw new ShapeError(`flatten: end axis ${end} comes before start axis ${start}`);
  const merged = sizeOf(x.shape.slice(s, e + 1));
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

export function permute(x: Tensor, axesIn: readonly number[]): Tensor {
  if (axesIn.length !== x.rank) {
    throw new ShapeError(`permute: expected ${x.rank} axes for shape ${fmtShape(x.shape)}, got ${JSON.stringify(axesIn)}`);
  }
  const axes = axesIn.map((a) => normalizeAxis(a, x.rank, "permute"));
  if (new Set(axes).size !== axes.length) throw new ShapeError(`permute: axes ${JSON.stringify(axesIn)} repeat an axis`);
  const out = viewOf(
    x,
    axes.map((a) => x.shape[a]!),
    axes.map((a) => x.strides[a]!),
    x.offset,
  );
  const inverse = new Array<number>(axes.length);
  axes.forEach((a, i) => (inverse[a] = i));
  return record(out, "permute", [x], (g) => [permute(g, inverse)]);
}

export function transpose(x: Tensor, a: number, b: number): Tensor {
  if (x.rank < 2) return x;
  const axes = Array.from({ length: x.rank }, (_, i) => i);
  const i = normalizeAxis(a, x.rank, "transpose");
  const j = normalizeAxis(b, x.rank, "transpose");
  [axes[i], axes[j]] = [axes[j]!, axes[i]!];
  return permute(x, axes);
}

/** Elements start, start+step, ... before end along `axis`; negative indices count from the end. */
export function slice(x: Tensor, axis: number, start: number, end: number | undefined, step: number): Tensor {
  const ax = normalizeAxis(axis, x.rank, "slice");
  const n = x.shape[ax]!;
  if (!Number.isInteger(step) || step < 1)
    throw new ArgumentError(`slice: step must be a positive integer, got ${step} (use flip for reverse order)`);
  const clamp = (i: number) => Math.min(Math.max(i < 0 ? i + n : i, 0), n);
  const s = clamp(start);
  const e = Math.max(clamp(end ?? n), s);
  const length = Math.ceil((e - s) / step);
  if (s === 0 && length === n && step === 1) return x;
  const shape = [...x.shape];
  shape[ax] = length;
  const strides = [...x.strides];
  strides[ax] = x.strides[ax]! * step;
  const out = viewOf(x, shape, strides, x.offset + s * x.strides[ax]!);
  return record(
    out,
    "slice",
    [x],
    (g) => {
      // zeros with g written where the slice was; a scatter where the backend cannot write views
      const padded = zeros(x.shape, { dtype: x.dtype, backend: x.backend });
      if (writeInto(slice(padded, ax, s, e, step), g)) return [padded];
      padded.dispose();
      const indices = arange(s, s + length * step, step, { dtype: "int32", backend: x.backend });
      return [scatterAdd(g, indices, ax, x.shape)];
    },
    [],
    // a later slice's gradient adds into the gradient the first one padded (see GradNode.accumulate)
    (into, g) => {
      const region = slice(into, ax, s, e, step);
      const sum = region.add(g);
      const wrote = writeInto(region, sum);
      sum.dispose();
      region.dispose();
      return wrote;
    },
  );
}

/** Broadcasts size-1 dims (and new leading dims) to `shape` with stride 0; -1 keeps a dim. */
export function expand(x: Tensor, shapeIn: readonly number[]): Tensor {
  const lead = shapeIn.length - x.rank;
  if (lead < 0) throw new ShapeError(`expand: cannot expand ${fmtShape(x.shape)} to fewer dims ${fmtShape(shapeIn)}`);
  const shape = shapeIn.map((d, i) => (d === -1 && i >= lead ? x.shape[i - lead]! : d));
  checkShape(shape, "expand");
  const strides = shape.map((d, i) => {
    if (i < lead) return 0;
    const own = x.shape[i - lead]!;
    if (own === d) return x.strides[i - lead]!;
    if (own === 1) return 0;
    throw new ShapeError(`expand: cannot expand ${fmtShape(x.shape)} to ${fmtShape(shapeIn)} (dim ${i}: ${own} vs ${d})`);
  });
  if (shapesEqual(shape, x.shape)) return x;
  const out = viewOf(x, shape, strides, x.offset);
  return record(out, "expand", [x], (g) => [sumToShape(g, x.shape)]);
}

export function unsqueeze(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis(axis, x.rank + 1, "unsqueeze");
  const shape = [...x.shape];
  const strides = [...x.strides];
  shape.splice(ax, 0, 1);
  strides.splice(ax, 0, ax < x.rank ? x.strides[ax]! * x.shape[ax]! : 1);
  const out = viewOf(x, shape, strides, x.offset);
  return record(out, "unsqueeze", [x], (g) => [reshape(g, x.shape)]);
}

export function squeeze(x: Tensor, axis?: number): Tensor {
  let keep: number[];
  if (axis === undefined) {
    keep = x.shape.map((_, i) => i).filter((i) => x.shape[i] !== 1);
  } else {
    const ax = normalizeAxis(axis, x.rank, "squeeze");
    if (x.shape[ax] !== 1) throw new ShapeError(`squeeze: axis ${axis} of shape ${fmtShape(x.shape)} has size ${x.shape[ax]}, not 1`);
    keep = x.shape.map((_, i) => i).filter((i) => i !== ax);
  }
  if (keep.length === x.rank) return x;
  const out = viewOf(
    x,
    keep.map((i) => x.shape[i]!),
    keep.map((i) => x.strides[i]!),
    x.offset,
  );
  return record(out, "squeeze", [x], (g) => [reshape(g, x.shape)]);
}

/** Reverses the order along `axis` (a view with a negative stride). */
export function flip(x: Tensor, axis: number): Tensor {
  const ax = normalizeAxis(axis, x.rank, "flip");
  const n = x.shape[ax]!;
  if (n <= 1) return x;
  const strides = [...x.strides];
  strides[ax] = -x.strides[ax]!;
  const out = viewOf(x, x.shape, strides, x.offset + (n - 1) * x.strides[ax]!);
  return record(out, "flip", [x], (g) => [flip(g, ax)]);
}
