import type { Backend } from "../backend.js";
import { ArgumentError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer } from "./core.js";

/**
 * The same values on `backend`: `t` itself when it is there already, else read from a backend that
 * reads synchronously (the CPU) and uploaded (small tensors: ids, positions, masks a caller made
 * on the default backend for a model that lives elsewhere). Leaving an asynchronous backend needs
 * `await t.data()` first, so that is an error here. The copy is outside autograd.
 */
export function toBackend(t: Tensor, backend: Backend): Tensor {
  if (t.backend === backend) return t;
  if (!t.backend.readSync) {
    throw new ArgumentError(
      `toBackend: a ${t.dtype} tensor on the ${t.backend.name} backend cannot move to ${backend.name} synchronously; read it with await t.data() and create it there`,
    );
  }
  return fromBuffer(backend, backend.upload(t.dataSync(), t.dtype), t.shape, t.dtype);
}
