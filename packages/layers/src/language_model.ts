import type { Tensor } from "@llm/tensor";

/**
 * The seam between models and everything that uses them (sampling, training): a model maps token
 * ids to next-token logits, optionally continuing from a KV cache.
 */
export interface ForwardOptions {
  /** Keys and values of earlier positions; forward appends this call's positions to it. */
  cache?: KVCache;
  /**
   * int32 positions of the new tokens, [batch, seq] (GLM: [batch, 2, seq] with block positions).
   * Default: cache length + 0, 1, 2, ...
   */
  positionIds?: Tensor;
  /**
   * Which keys each query may see. Either a padding mask [batch, keyLength] (1/true = real token,
   * combined with the causal mask; keyLength counts cached positions too), or a full bool mask
   * [batch, seq, keyLength] or [batch, 1, seq, keyLength] that replaces the causal mask (GLM's
   * Part A / Part B mask).
   */
  attentionMask?: Tensor;
  /**
   * Compute logits for only the last N positions (0 or absent: all). Generation needs only the
   * last one, which spares the vocabulary-wide head over the whole prompt.
   */
  logitsToKeep?: number;
  /**
   * Allow positions past `config.maxPositions` (the length the model's config declares) for
   * encodings that compute positions rather than look them up (rotary, ALiBi). Without it, going
   * past is an error: the model was not trained there. A learned position table cannot extrapolate
   * either way.
   */
  extrapolate?: boolean;
}

/** Per-layer keys and values of the positions seen so far. */
export interface KVCache {
  /** Number of positions stored. */
  readonly length: number;
  /**
   * Keeps the first `length` positions and forgets the rest; returns how many it kept (fewer when a
   * sliding window has dropped some: 0, the cache starting over). Optional: a cache without it is rebuilt.
   */
  truncate?(length: number): number;
  /** Frees the cached tensors. */
  dispose(): void;
}

export interface CreateCacheOptions {
  /**
   * What the cache keeps keys and values as: "float32" (default), or "float16" / "bfloat16" at
   * half the memory, each value rounded as it is written (llama.cpp keeps float16 by default).
   */
  dtype?: "float32" | "float16" | "bfloat16";
}

export interface LanguageModelConfig {
  readonly vocabSize: number;
  /**
   * Longest sequence the model's config declares (max_position_embeddings and alike; the size of a
   * learned position table). Infinity only when the config declares none (BLOOM's ALiBi).
   */
  readonly maxPositions: number;
}

export interface LanguageModel {
  readonly config: LanguageModelConfig;
  /** ids: int32 [batch, seq] -> logits float32 [batch, seq, vocab]. */
  forward(ids: Tensor, options?: ForwardOptions): Tensor;
  /** An empty cache for incremental decoding. */
  createCache(options?: CreateCacheOptions): KVCache;
}

/** What a checkpoint folder holds: config.json's contents and tensors under their checkpoint names. */
export interface CheckpointContents {
  readonly config: Record<string, unknown>;
  readonly tensors: Record<string, Tensor>;
  /** Config keys (dotted paths) that are floats even when whole: written 30.0, not 30. */
  readonly floatKeys?: readonly string[];
}

/** A model that can write itself in its architecture's own format (so loaders elsewhere read it). */
export interface SavableModel {
  toCheckpoint(): CheckpointContents;
}
