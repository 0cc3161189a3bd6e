import { arange, tensor, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { PositionEncoding } from "./position_encoding.js";

/**
 * ALiBi slopes for any head count (Press et al.; BLOOM's and MPT's formulas agree): for the
 * power of two p <= heads, slope k = 2^(-maxBias k / p); when heads is not a power of two, the
 * remaining heads take the odd-numbered slopes of 2p heads.
 */
export function alibiSlopes(heads: number, maxBias = 8): number[] {
  if (!Number.isInteger(heads) || heads < 1) throw new LayerArgumentError(`alibiSlopes: heads must be a positive integer, found ${heads}`);
  const p = 2 ** Math.floor(Math.log2(heads));
  const slopes = Array.from({ length: p }, (_, i) => 2 ** ((-maxBias * (i + 1)) / p));
  for (let i = 0; slopes.length < heads; i++) slopes.push(2 ** ((-maxBias * (2 * i + 1)) / (2 * p)));
  return slopes;
}

/**
 * Attention with linear biases: a head's score for a key d positions behind the query drops by
 * slope * d. Softmax ignores a constant per row, so this equals BLOOM's slope * keyIndex and
 * MPT's slope * (keyIndex - last) while staying small for long contexts.
 */
export class AlibiBias implements PositionEncoding {
  readonly kind = "alibi";
  readonly slopes: readonly number[];

  /** `scale` multiplies the bias (Falcon adds ALiBi before scaling the scores by 1/sqrt(d)). */
  constructor(
    readonly heads: number,
    options: { maxBias?: number; scale?: number } = {},
  ) {
    const scale = options.scale ?? 1;
    this.slopes = alibiSlopes(heads, options.maxBias ?? 8).map((s) => s * scale);
  }

  bias(queryLength: number, keyLength: number): Tensor {
    const slopes = tensor(Float32Array.from(this.slopes), { shape: [1, this.heads, 1, 1] });
    const keys = arange(0, keyLength).reshape(1, keyLength);
    const queries = arange(keyLength - queryLength, keyLength).reshape(queryLength, 1);
    return keys.sub(queries).float().mul(slopes);
  }
}
