import { ShapeError, fmtShape } from "../errors.js";
import { broadcastShapes } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, record, requireDType, sameBackend } from "./core.js";
import { expand, reshape, transpose } from "./views.js";

/**
 * numpy.matmul: batched over leading dims with broadcasting; a 1-D operand is a row (a) or a
 * column (b) vector whose axis is dropped from the result. Transposed operands stay views.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  requireDType(a, ["float32"], "matmul", "a");
  requireDType(b, ["float32"], "matmul", "b");
  if (a.rank === 0 || b.rank === 0) {
    throw new ShapeError(`matmul: operands must have at least one dim, got ${fmtShape(a.shape)} and ${fmtShape(b.shape)}`);
  }
  const backend = sameBackend("matmul", a, b);
  const a2 = a.rank === 1 ? reshape(a, [1, a.shape[0]!]) : a;
  const b2 = b.rank === 1 ? reshape(b, [b.shape[0]!, 1]) : b;
  const [M, K] = a2.shape.slice(-2) as [number, number];
  const [K2, N] = b2.shape.slice(-2) as [number, number];
  if (K !== K2) {
    throw new ShapeError(`matmul: inner dimensions differ: a has shape ${fmtShape(a.shape)} (K=${K}), b has shape ${fmtShape(b.shape)} (K=${K2})`);
  }
  const batch = broadcastShapes(a2.shape.slice(0, -2), b2.shape.slice(0, -2), "matmul (batch dims)");
  const ae = expand(a2, [...batch, M, K]);
  const be = expand(b2, [...batch, K, N]);
  const out = fromBuffer(backend, backend.matmul(ae.view(), be.view()), [...batch, M, N], "float32");
  record(out, "matmul", [ae, be], (g) => [
    ae.requiresGrad ? matmul(g, transpose(be, -2, -1)) : null,
    be.requiresGrad ? matmul(transpose(ae, -2, -1), g) : null,
  ]);
  if (a.rank === 1 && b.rank === 1) return reshape(out, []);
  if (a.rank === 1) return reshape(out, [...batch, N]);
  if (b.rank === 1) return reshape(out, [...batch, M]);
  return out;
}

