import { scaledDotProductAttention, type Tensor } from "@llm/tensor";
import type { LayerKVCache } from "../cache.js";
import { LayerArgumentError } from "../errors.js";
import type { Linear } from "../linear.js";
import { Module } from "../module.js";
import type { PositionEncoding } from "../positions/position_encoding.js";
import { checkProjection, projectHeads, type HeadCounts, type QKVProjection } from "./projections.js";

/** What every attention layer of one forward shares. */
export interface AttentionContext {
  /** int32 [batch, seq]: positions of the new tokens (rotary reads them). */
  positionIds: Tensor;
  /** bool, broadcastable to [batch, heads, seq, keys]; null = attend to every key. */
  mask: Tensor | null;
}

export interface AttentionOptions {
  heads: number;
  /** Key/value heads: = heads for multi-head, 1 for multi-query, a divisor for grouped-query. */
  kvHeads?: number;
  headDim: number;
  projection: QKVProjection;
  output: { name: string; linear: Linear };
  position?: PositionEncoding;
  /** Multiplies q.k (default 1 / sqrt(headDim)). */
  scale?: number;
}

/**
 * Multi-head attention with grouped-query and multi-query heads. Heads are a tensor dim, never a
 * loop; grouped query heads share their kv head through a broadcast, not a copy.
 */
export class Attention extends Module {
  readonly counts: HeadCounts;
  readonly projection: QKVProjection;
  readonly output: Linear;
  readonly position: PositionEncoding | undefined;
  readonly scale: number;

  constructor(options: AttentionOptions) {
    super();
    const { heads, headDim } = options;
    const kvHeads = options.kvHeads ?? heads;
    if (!Number.isInteger(heads) || heads < 1 || !Number.isInteger(headDim) || headDim < 1) {
      throw new LayerArgumentError(`Attention: heads and headDim must be positive integers, found ${heads} and ${headDim}`);
    }
    if (!Number.isInteger(kvHeads) || kvHeads < 1 || heads % kvHeads !== 0) {
      throw new LayerArgumentError(`Attention: kvHeads must divide heads (${heads}), found ${kvHeads}`);
    }
    this.counts = { heads, kvHeads, headDim };
    checkProjection(options.projection, this.counts);
    this.projection = options.projection;
    if (this.projection.kind === "separate") {
      const { names, q, k, v } = this.projection;
      this.addModule(names.q, q);
      this.addModule(names.k, k);
      this.addModule(names.v, v);
    } else {
      this.addModule(this.projection.name, this.projection.linear);
    }
    this.output = this.addModule(options.output.name, options.output.linear);
    this.position = options.position;
    this.scale = options.scale ?? 1 / Math.sqrt(headDim);
  }

  /** x [batch, seq, hidden] -> [batch, seq, hidden]; appends this step's keys/values to `cache`. */
  forward(x: Tensor, context: AttentionContext, cache?: LayerKVCache): Tensor {
    const { heads, headDim } = this.counts;
    const [batch, seq] = x.shape as [number, number];
    const projected = projectHeads(this.projection, x, this.counts);
    let q = projected.q.transpose(1, 2);
    let k = projected.k.transpose(1, 2);
    let v = projected.v.transpose(1, 2);
    if (this.position?.rotate) [q, k] = this.position.rotate(q, k, context.positionIds);
    if (cache) ({ keys: k, values: v } = cache.append(k, v));
    const bias = this.position?.bias?.(seq, k.shape[2]!) ?? null;
    // Grouped query heads share their kv head inside the op (broadcast, not a copy).
    const mixed = scaledDotProductAttention(q, k, v, { mask: context.mask, bias, scale: this.scale });
    return this.output.forward(mixed.transpose(1, 2).reshape(batch, seq, heads * headDim));
  }
}
