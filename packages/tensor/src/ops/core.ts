import type { Backend, BackendBuffer, StridedView } from "../backend.js";
import type { DType } from "../dtype.js";
import { isGradEnabled } from "../engine.js";
import { ArgumentError, DTypeError } from "../errors.js";
import type { Shape } from "../shape.js";
import { Storage, Tensor, type GradNode } from "../tensor.js";
import { copyOf } from "../copies.js";

/** Wraps a freshly computed contiguous buffer as a tensor. */
export function fromBuffer(backend: Backend, buffer: BackendBuffer, shape: Shape, dtype: DType): Tensor {
  return new Tensor(new Storage(backend, buffer), shape, dtype);
}

/** A view sharing `t`'s storage (no copy). */
export function viewOf(t: Tensor, shape: Shape, strides: readonly number[], offset: number): Tensor {
  return new Tensor(t.storage, shape, t.dtype, strides, offset);
}

/**
 * Records how `out` was computed when autograd is on and an input needs a gradient. `backward`
 * maps the gradient of `out` to one gradient per input (null where none flows), using tensor ops.
 */
export function record(
  out: Tensor,
  op: string,
  inputs: readonly Tensor[],
  backward: GradNode["backward"],
  saved: readonly Tensor[] = [],
  accumulate?: GradNode["accumulate"],
): Tensor {
  if (isGradEnabled() && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = accumulate ? { op, inputs, saved, backward, accumulate } : { op, inputs, saved, backward };
  }
  return out;
}

/**
 * t's view broadcast to `shape` (stride 0 on new and size-1 dims). A raw view, not a Tensor, so an
 * op that broadcasts its inputs leaves nothing behind to free. The shapes are already checked.
 */
export function broadcastView(t: Tensor, shape: Shape): StridedView {
  const lead = shape.length - t.rank;
  const strides = shape.map((d, i) => (i < lead || t.shape[i - lead] !== d ? 0 : t.strides[i - lead]!));
  return { buffer: t.storage.buffer, shape, strides, offset: t.offset };
}

/** A rank-0 tensor holding `value`. */
export function scalar(value: number, dtype: DType, backend: Backend): Tensor {
  return fromBuffer(backend, backend.fill(1, value, dtype), [], dtype);
}

export function requireFloat(t: Tensor, op: string, arg = "input"): void {
  if (t.dtype !== "float32") {
    throw new DTypeError(
      `${op}: ${arg} must be float32, got ${t.dtype}` +
        (t.dtype === "float16" || t.dtype === "bfloat16" ? " (half types are for storage: cast with .float())" : ""),
    );
  }
}

export function requireDType(t: Tensor, dtypes: readonly DType[], op: string, arg = "input"): void {
  if (!dtypes.includes(t.dtype)) {
    throw new DTypeError(`${op}: ${arg} must be ${dtypes.join(" or ")}, got ${t.dtype}`);
  }
}

export function sameBackend(op: string, ...ts: Tensor[]): Backend {
  const backend = ts[0]!.backend;
  for (const t of ts) {
    if (t.backend !== backend) throw new ArgumentError(`${op}: inputs live on ${differentBackends(backend, t.backend)}`);
  }
  return backend;
}

/** "different backends (cpu and webgpu)", or which two copies of @llm/tensor met. */
export function differentBackends(a: Backend, b: Backend): string {
  if (a.name !== b.name) return `different backends (${a.name} and ${b.name})`;
  const [copyA, copyB] = [copyOf(a), copyOf(b)];
  if (copyA && copyB && copyA !== copyB) return `backends of two copies of @llm/tensor (${copyA} and ${copyB}); an app must load one`;
  return `two different ${a.name} backend instances`;
}
