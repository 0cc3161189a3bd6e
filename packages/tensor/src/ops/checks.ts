import { deferCheck, keep, noGrad, tidy } from "../engine.js";
import { ArgumentError, DTypeError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { stack } from "./indexing.js";

/**
 * Checks that every value of the int32 tensor `ids` lies in [0, limit): token ids, loss targets,
 * learned positions. Out-of-range ids would read past a table (or, on a GPU, read garbage), so
 * this is an error, never a clamp. Only the smallest and largest value are read back:
 *  - where the backend reads synchronously (CPU), a bad value throws here, at once;
 *  - where it cannot (WebGPU), the check is queued on the device and the next read of any tensor
 *    (`await t.data()`, which every generation and training loop makes) throws it.
 * `describe(value)` words the error for the offending value (the caller knows what the ids are).
 */
export function checkIndexRange(ids: Tensor, limit: number, describe: (value: number) => string): void {
  if (ids.dtype !== "int32") throw new DTypeError(`checkIndexRange: expected int32 ids, found ${ids.dtype}`);
  if (ids.size === 0) return;
  const verdict = (bounds: ArrayLike<number>): Error | null => {
    const [low, high] = [bounds[0]!, bounds[1]!];
    if (low < 0) return new ArgumentError(describe(low));
    if (high >= limit) return new ArgumentError(describe(high));
    return null;
  };
  const bounds = noGrad(() => tidy(() => stack([ids.min(), ids.max()])));
  if (ids.backend.readSync) {
    try {
      const error = verdict(bounds.dataSync());
      if (error) throw error;
    } finally {
      bounds.dispose();
    }
    return;
  }
  deferCheck({ values: keep(bounds), verdict });
}
