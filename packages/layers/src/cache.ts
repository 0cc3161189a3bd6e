import { concat, keep, type Tensor } from "@llm/tensor";
import type { KVCache } from "./language_model.js";

/** One attention layer's keys and values so far, [batch, kvHeads, positions, headDim]. */
export class LayerKVCache {
  keys: Tensor | null = null;
  values: Tensor | null = null;

  get length(): number {
    return this.keys?.shape[2] ?? 0;
  }

  /** Appends this step's keys and values and returns all of them. */
  append(keys: Tensor, values: Tensor): { keys: Tensor; values: Tensor } {
    const nextKeys = keep(this.keys ? concat([this.keys, keys], 2) : keys.contiguous());
    const nextValues = keep(this.values ? concat([this.values, values], 2) : values.contiguous());
    this.release();
    this.keys = nextKeys;
    this.values = nextValues;
    return { keys: nextKeys, values: nextValues };
  }

  /** Frees the stored tensors unless an autograd graph still needs them. */
  release(): void {
    for (const t of [this.keys, this.values]) if (t && !t.requiresGrad) t.dispose();
    this.keys = null;
    this.values = null;
  }
}

/** A cache for a stack of attention layers: what LanguageModel.createCache returns. */
export class TransformerKVCache implements KVCache {
  readonly layers: readonly LayerKVCache[];

  constructor(layerCount: number) {
    this.layers = Array.from({ length: layerCount }, () => new LayerKVCache());
  }

  get length(): number {
    return this.layers[0]?.length ?? 0;
  }

  dispose(): void {
    for (const layer of this.layers) layer.release();
  }
}
