import { scaledDotProductAttention, type Tensor } from "@llm/tensor";
import type { LayerKVCache } from "../cache.js";
import { LayerArgumentError } from "../errors.js";
import type { Linear } from "../linear.js";
import { Module } from "../module.js";
import type { Norm } from "../norms.js";
import type { PositionEncoding } from "../positions/position_encoding.js";
import type { RotaryTables } from "../positions/rotary.js";
import { slidingWindowMask } from "./mask.js";
import { checkProjection, projectHeads, type HeadCounts, type QKVProjection } from "./projections.js";

/** What every attention layer of one forward shares. */
export interface AttentionContext {
  /** int32 [batch, seq]: positions of the new tokens (rotary reads them). */
  positionIds: Tensor;
  /**
   * bool, broadcastable to [batch, heads, seq, keys] over every position so far (cached and new);
   * null = attend to every key. A layer whose cache has dropped old positions (a sliding window)
   * uses the part over the keys it holds.
   */
  mask: Tensor | null;
  /** Each position encoding's prepare(positionIds), made once for every layer (absent: each layer makes its own). */
  prepared?: ReadonlyMap<PositionEncoding, RotaryTables>;
}

export interface AttentionOptions {
  heads: number;
  /** Key/value heads: = heads for multi-head, 1 for multi-query, a divisor for grouped-query. */
  kvHeads?: number;
  headDim: number;
  projection: QKVProjection;
  output: { name: string; linear: Linear };
  position?: PositionEncoding;
  /** Multiplies q.k (default 1 / sqrt(headDim); Gemma 2: 1 / sqrt(query_pre_attn_scalar)). */
  scale?: number;
  /**
   * Norms over each head's query and key dims, applied before rotary (Qwen3's q_norm / k_norm),
   * registered under their checkpoint names.
   */
  headNorms?: { query: [name: string, norm: Norm]; key: [name: string, norm: Norm] };
  /**
   * Each query sees itself and the window - 1 positions before it (Mistral, Gemma 2's local
   * layers); a cache made for this layer then keeps only those. Default: no window.
   */
  slidingWindow?: number | null;
  /** Soft-caps the scaled scores, cap * tanh(s / cap), before the mask (Gemma 2). Default: none. */
  softcap?: number | null;
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
  readonly queryNorm: Norm | null;
  readonly keyNorm: Norm | null;
  readonly slidingWindow: number | null;
  readonly softcap: number | null;

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
    this.queryNorm = options.headNorms ? this.addModule(...options.headNorms.query) : null;
    this.keyNorm = options.headNorms ? this.addModule(...options.headNorms.key) : null;
    this.position = options.position;
    this.scale = options.scale ?? 1 / Math.sqrt(headDim);
    this.slidingWindow = options.slidingWindow ?? null;
    if (this.slidingWindow !== null && !(Number.isInteger(this.slidingWindow) && this.slidingWindow >= 1)) {
      throw new LayerArgumentError(`Attention: slidingWindow must be a positive integer or null, found ${this.slidingWindow}`);
    }
    this.softcap = options.softcap ?? null;
    if (this.softcap !== null && !(this.softcap > 0 && Number.isFinite(this.softcap))) {
      throw new LayerArgumentError(`Attention: softcap must be a positive number or null, found ${this.softcap}`);
    }
  }

  /** x [batch, seq, hidden] -> [batch, seq, hidden]; appends this step's keys/values to `cache`. */
  forward(x: Tensor, context: AttentionContext, cache?: LayerKVCache): Tensor {
    const { heads, headDim } = this.counts;
    const [batch, seq] = x.shape as [number, number];
    const projected = projectHeads(this.projection, x, this.counts);
    let q = (this.queryNorm ? this.queryNorm.forward(projected.q) : projected.q).transpose(1, 2);
    let k = (this.keyNorm ? this.keyNorm.forward(projected.k) : projected.k).transpose(1, 2);
    let v = projected.v.transpose(1, 2);
    if (this.position?.rotate) [q, k] = this.position.rotate(q, k, context.positionIds, context.prepared?.get(this.position));
    let start = 0;
    if (cache) {
      this.checkCache(cache);
      ({ keys: k, values: v, start } = cache.append(k, v));
    }
    // keys are positions [start, start + held); context.mask covers [0, start + held)
    const keyEnd = start + k.shape[2]!;
    const mask = this.slidingWindow === null ? context.mask : slidingWindowMask(context.mask, seq, keyEnd, this.slidingWindow, start);
    const bias = this.position?.bias?.(seq, k.shape[2]!) ?? null;
    // Grouped query heads share their kv head inside the op (broadcast, not a copy).
    const mixed = scaledDotProductAttention(q, k, v, { mask, bias, scale: this.scale, softcap: this.softcap });
    return this.output.forward(mixed.transpose(1, 2).reshape(batch, seq, heads * headDim));
  }

  /** A cache that drops positions must drop only what this layer's window no longer sees. */
  private checkCache(cache: LayerKVCache): void {
    if (cache.window !== null && (this.slidingWindow === null || cache.window < this.slidingWindow)) {
      throw new LayerArgumentError(
        `Attention: a cache that keeps a window of ${cache.window} cannot serve ${this.slidingWindow === null ? "full attention" : `a window of ${this.slidingWindow}`}; use the model's createCache()`,
      );
    }
  }
}
