import { isQuantized } from "../dtype.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import { normalizeAxis } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { tidy } from "../engine.js";
import { fromBuffer, record, requireDType, sameBackend } from "./core.js";
import { arange } from "./creation.js";
import { contiguous, flip, permute, reshape, slice, unsqueeze } from "./views.js";

/** Where the backend reads synchronously, out-of-range indices get a clear error instead of garbage. */
function checkIndices(indices: Tensor, size: number, op: string, axis: number): void {
  const backend = indices.backend;
  if (!backend.readSync || indices.size === 0) return;
  const values = indices.dataSync();
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < 0 || v >= size) {
      throw new ShapeError(`${op}: index ${v} (at flat position ${i}) is out of range for axis ${axis} of size ${size}`);
    }
  }
}

/** numpy.take: out[..., j.., ...] = x[..., indices[j..], ...] along `axis`. Embedding lookup is weight.take(ids). */
export function take(x: Tensor, indices: Tensor, axis: number): Tensor {
  requireDType(indices, ["int32"], "take", "indices");
  const ax = normalizeAxis(axis, x.rank, "take");
  const backend = sameBackend("take", x, indices);
  checkIndices(indices, x.shape[ax]!, "take", ax);
  const shape = [...x.shape.slice(0, ax), ...indices.shape, ...x.shape.slice(ax + 1)];
  if (isQuantized(x.dtype)) {
    // a quantized table (token embeddings) gives its rows dequantized: float32
    if (x.rank !== 2 || ax !== 0)
      throw new DTypeError(`take: a ${x.dtype} tensor is read as rows of a 2-D table (axis 0), got rank ${x.rank}, axis ${ax}`);
    return fromBuffer(backend, backend.gather(x.view(), indices.view(), 0), shape, "float32");
  }
  const out = fromBuffer(backend, backend.gather(x.view(), indices.view(), ax), shape, x.dtype);
  return record(out, "take", [x], (g) => [scatterAdd(g, indices, ax, x.shape)], [indices]);
}

/** The adjoint of take: zeros of `shape` with `updates` added at `indices` along `axis`. */
export function scatterAdd(updates: Tensor, indices: Tensor, axis: number, shape: readonly number[]): Tensor {
  requireDType(indices, ["int32"], "scatterAdd", "indices");
  const backend = sameBackend("scatterAdd", updates, indices);
  const expected = [...shape.slice(0, axis), ...indices.shape, ...shape.slice(axis + 1)];
  if (expected.length !== updates.rank || expected.some((d, i) => d !== updates.shape[i])) {
    throw new ShapeError(`scatterAdd: updates must have shape ${fmtShape(expected)}, got ${fmtShape(updates.shape)}`);
  }
  const out = fromBuffer(backend, backend.scatterAdd(updates.view(), indices.view(), axis, shape), shape, updates.dtype);
  return record(out, "scatterAdd", [updates], (g) => [take(g, indices, axis)], [indices]);
}

/** numpy.take_along_axis: indices has x's rank; picks x[..., indices[..., j], ...] along `axis`. */
export function takeAlongAxis(x: Tensor, indices: Tensor, axis: number): Tensor {
  requireDType(indices, ["int32"], "takeAlongAxis", "indices");
  const ax = normalizeAxis(axis, x.rank, "takeAlongAxis");
  if (indices.rank !== x.rank || indices.shape.some((d, i) => i !== ax && d !== x.shape[i])) {
    throw new ShapeError(
      `takeAlongAxis: indices of shape ${fmtShape(indices.shape)} must match x's shape ${fmtShape(x.shape)} except along axis ${ax}`,
    );
  }
  return tidy(() => takeAlongLastAxis(x, indices, ax));
}

/** Moves the axis last, flattens, and offsets each row's indices by its start. */
function takeAlongLastAxis(x: Tensor, indices: Tensor, ax: number): Tensor {
  const order = [...x.shape.keys()].filter((i) => i !== ax).concat(ax);
  const xl = contiguous(permute(x, order));
  const il = contiguous(permute(indices, order));
  const n = x.shape[ax]!;
  checkIndices(il, n, "takeAlongAxis", ax);
  const rows = il.size / Math.max(il.shape[il.rank - 1]!, 1);
  const starts = reshape(arange(0, rows * n, n, { backend: x.backend }), [...il.shape.slice(0, -1), 1]);
  const picked = take(reshape(xl, [-1]), il.add(starts), 0);
  const inverse = order.map((_, i) => order.indexOf(i));
  return permute(picked, inverse);
}

export function cumsum(x: Tensor, axis: number): Tensor {
  requireDType(x, ["float32", "int32"], "cumsum");
  const ax = normalizeAxis(axis, x.rank, "cumsum");
  const out = fromBuffer(x.backend, x.backend.cumsum(x.view(), ax), x.shape, x.dtype);
  return record(out, "cumsum", [x], (g) => [flip(cumsum(flip(g, ax), ax), ax)]);
}

export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError("concat: needs at least one tensor");
  const first = tensors[0]!;
  const ax = normalizeAxis(axis, first.rank, "concat");
  const backend = sameBackend("concat", ...tensors);
  tensors.forEach((t, k) => {
    if (t.dtype !== first.dtype) throw new DTypeError(`concat: tensor ${k} is ${t.dtype}, tensor 0 is ${first.dtype}`);
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== ax && d !== first.shape[i])) {
      throw new ShapeError(
        `concat: tensor ${k} has shape ${fmtShape(t.shape)}, which does not match tensor 0's ${fmtShape(first.shape)} outside axis ${ax}`,
      );
    }
  });
  if (tensors.length === 1) return first;
  const sizes = tensors.map((t) => t.shape[ax]!);
  const shape = [...first.shape];
  shape[ax] = sizes.reduce((a, b) => a + b, 0);
  const out = fromBuffer(
    backend,
    backend.concat(
      tensors.map((t) => t.view()),
      ax,
    ),
    shape,
    first.dtype,
  );
  return record(out, "concat", tensors, (g) => split(g, sizes, ax));
}

export function stack(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new ShapeError("stack: needs at least one tensor");
  const ax = normalizeAxis(axis, tensors[0]!.rank + 1, "stack");
  return tidy(() =>
    concat(
      tensors.map((t) => unsqueeze(t, ax)),
      ax,
    ),
  );
}

/** Splits into pieces of the given sizes, or into `count` equal pieces, along `axis` (views). */
export function split(x: Tensor, sizesOrCount: number | readonly number[], axis = 0): Tensor[] {
  const ax = normalizeAxis(axis, x.rank, "split");
  const n = x.shape[ax]!;
  let sizes: number[];
  if (typeof sizesOrCount === "number") {
    if (!Number.isInteger(sizesOrCount) || sizesOrCount < 1 || n % sizesOrCount !== 0) {
      throw new ShapeError(`split: cannot split axis ${ax} of size ${n} into ${sizesOrCount} equal pieces`);
    }
    sizes = new Array<number>(sizesOrCount).fill(n / sizesOrCount);
  } else {
    sizes = [...sizesOrCount];
    const total = sizes.reduce((a, b) => a + b, 0);
    if (total !== n) throw new ShapeError(`split: sizes ${JSON.stringify(sizes)} add up to ${total}, but axis ${ax} has size ${n}`);
  }
  let start = 0;
  return sizes.map((size) => {
    const piece = slice(x, ax, start, start + size, 1);
    start += size;
    return piece;
  });
}
