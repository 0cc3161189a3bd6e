import type { StridedView } from "../backend.js";
import { ShapeError, fmtShape } from "../errors.js";
import { broadcastShapes } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, record, requireDType, sameBackend } from "./core.js";
import { sumToShape } from "./reduce.js";
import { reshape, transpose } from "./views.js";
import { isStoredDType } from "../dtype.js";
import { matmulStoredWeight } from "./matmul_stored.js";

/** Raw view of `t` as a matrix operand: a 1-D tensor is a row (a) or a column (b) vector. */
function asMatrix(t: Tensor, role: "a" | "b"): StridedView {
  if (t.rank > 1) return t.view();
  const s = t.strides[0]!;
  const n = t.shape[0]!;
  const [shape, strides] =
    role === "a"
      ? [
          [1, n],
          [0, s],
        ]
      : [
          [n, 1],
          [s, 0],
        ];
  return { buffer: t.storage.buffer, shape, strides, offset: t.offset };
}

/** The matrix view with batch dims broadcast to `batch` (stride 0 where it repeats). */
function withBatch(v: StridedView, batch: readonly number[]): StridedView {
  if (batch.length === 0 && v.shape.length === 2) return v; // a plain matrix (every Linear): as it is
  const own = v.shape.length - 2;
  const lead = batch.length - own;
  const strides = batch.map((d, i) => (i < lead || v.shape[i - lead] !== d ? 0 : v.strides[i - lead]!));
  return { ...v, shape: [...batch, ...v.shape.slice(-2)], strides: [...strides, ...v.strides.slice(-2)] };
}

/**
 * numpy.matmul: batched over leading dims with broadcasting; a 1-D operand is a row (a) or a
 * column (b) vector whose axis is dropped from the result. Transposed operands stay views, and
 * the kernel reads broadcast batches through stride 0, so nothing is copied on the way in.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireDType(a, ["float32"], "matmul", "a");
  if (b.dtype !== "float32" && isStoredDType(b.dtype)) return matmulStoredWeight(a, b);
  requireDType(b, ["float32"], "matmul", "b");
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(`matmul: operands must have at least one dim, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const backend = sameBackend("matmul", a, b);
  const av = asMatrix(a, "a");
  const bv = asMatrix(b, "b");
  const [M, K] = av.shape.slice(-2) as [number, number];
  const [K2, N] = bv.shape.slice(-2) as [number, number];
  if (K !== K2) {
    throw new ShapeError(
      `matmul: inner dimensions differ: a has shape ${fmtShape(a.shape)} (K=${K}), b has shape ${fmtShape(b.shape)} (K=${K2})`,
    );
  }
  const batch = broadcastShapes(av.shape.slice(0, -2), bv.shape.slice(0, -2), "matmul (batch dims)");
  const fullShape = [...batch, M, N];
  const shape = [...batch, ...(a.rank > 1 ? [M] : []), ...(b.rank > 1 ? [N] : [])];
  const out = fromBuffer(backend, backend.matmul(withBatch(av, batch), withBatch(bv, batch)), shape, "float32");
  return record(out, "matmul", [a, b], (g) => {
    const gFull = reshape(g, fullShape);
    const aMatrix = reshape(a, av.shape);
    const bMatrix = reshape(b, bv.shape);
    return [
      a.requiresGrad ? reshape(sumToShape(matmul(gFull, transpose(bMatrix, -2, -1)), av.shape), a.shape) : null,
      b.requiresGrad ? bGrad(aMatrix, gFull, b, bv) : null,
    ];
  });
}

/**
 * The gradient of b in a @ b: a^T g, summed over broadcast batch dims. Where b is the transpose of
 * a row-major matrix (x @ W^T: a tied output head, an [out, in] Linear) it is computed as
 * (g^T a)^T, so W's own gradient comes out row-major: no strided copy or add to make it so.
 */
function bGrad(aMatrix: Tensor, g: Tensor, b: Tensor, bv: StridedView): Tensor {
  const [K, N] = b.shape as [number, number];
  if (b.rank === 2 && aMatrix.rank === 2 && K > 1 && N > 1 && b.strides[0] === 1 && b.strides[1] === K) {
    return transpose(matmul(transpose(g, 0, 1), aMatrix), 0, 1);
  }
  return reshape(sumToShape(matmul(transpose(aMatrix, -2, -1), g), bv.shape), b.shape);
}
