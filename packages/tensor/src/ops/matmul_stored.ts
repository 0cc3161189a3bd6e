import { isQuantized } from "../dtype.js";
import { DTypeError, ShapeError, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, record, sameBackend } from "./core.js";
import { cast } from "./elementwise.js";
import { matmul } from "./matmul.js";
import { reshape, transpose } from "./views.js";

/**
 * a [..., M, K] float32 @ b [K, N] where b is a weight kept as stored (float16, bfloat16, or
 * llama.cpp blocks): the backend reads b as it is and accumulates in float32, so no float32 copy
 * of the weight is made. A backend that cannot (see Backend.storedMatmulDTypes) gets half weights
 * widened for the call; blocks are refused there. Gradients flow to a only (a stored weight is
 * not trained): through b widened to float32 for the backward.
 */
export function matmulStoredWeight(a: Tensor, b: Tensor): Tensor {
  const backend = sameBackend("matmul", a, b);
  if (b.rank !== 2) throw new ShapeError(`matmul: a ${b.dtype} weight must be a matrix [K, N], got shape ${fmtShape(b.shape)}`);
  if (!backend.storedMatmulDTypes?.includes(b.dtype)) {
    if (isQuantized(b.dtype)) {
      throw new DTypeError(
        `matmul: the ${backend.name} backend cannot multiply ${b.dtype} weights; load the model as float16 or float32 there`,
      );
    }
    const wide = cast(b, "float32");
    const out = matmul(a, wide);
    if (!out.requiresGrad) wide.dispose(); // else the backward reads it
    return out;
  }
  const [K, N] = b.shape as [number, number];
  const lead = a.rank === 1 ? [] : a.shape.slice(0, -1);
  const aK = a.shape[a.rank - 1]!;
  if (aK !== K) {
    throw new ShapeError(
      `matmul: inner dimensions differ: a has shape ${fmtShape(a.shape)} (K=${aK}), b has shape ${fmtShape(b.shape)} (K=${K})`,
    );
  }
  const av = a.rank === 1 ? reshape(a, [1, K]).view() : a.view();
  const batch = av.shape.slice(0, -2);
  const bv = { buffer: b.storage.buffer, shape: [...batch, K, N], strides: [...batch.map(() => 0), ...b.strides], offset: b.offset };
  const out = fromBuffer(backend, backend.matmul(av, bv), [...lead, N], "float32");
  // b is saved, not an input (it takes no gradient): a view of a weight made inside tidy (a tied
  // head's transpose) must outlive the scope for the backward to read it.
  return record(
    out,
    "matmul",
    [a],
    (g) => {
      const wide = cast(b, "float32");
      const ga = matmul(g, transpose(wide, 0, 1));
      wide.dispose();
      return [ga];
    },
    [b],
  );
}
