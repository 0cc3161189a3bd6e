import { deferCheck, keep, noGrad, tidy } from "../engine.js";
import { ArgumentError, DTypeError } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { stack } from "./indexing.js";

/**
 * Checks that every value of the int32 tensor `ids` lies in [0, limit): token ids, loss targets,
 * learned positions. Out-of-range ids would read past a table (or, on a GPU, read garbage), so
 * this is an error, never a clamp:
 *  - where the backend reads synchronously (CPU), the ids are read and a bad value throws here, at once;
 *  - where it cannot (WebGPU), their smallest and largest value are queued on the device and the next read of any tensor
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
  if (ids.backend.readSync) {
    // read where it is cheap (the CPU backend's memory): no min / max / stack ops around a step's
    // one id (five ops' JavaScript, a measurable share of a decoded token)
    const values = ids.dataSync();
    let [low, high] = [values[0]!, values[0]!];
    for (let i = 1; i < values.length; i++) {
      const v = values[i]!;
      if (v < low) low = v;
      else if (v > high) high = v;
    }
    const error = verdict([low, high]);
    if (error) throw error;
    return;
  }
  const bounds = noGrad(() => tidy(() => stack([ids.min(), ids.max()])));
  deferCheck({ values: keep(bounds), verdict });
}
