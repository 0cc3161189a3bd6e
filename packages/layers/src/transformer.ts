import { tidy, type Tensor } from "@llm/tensor";
import { buildAttentionMask, defaultPositionIds } from "./attention/mask.js";
import type { AttentionContext } from "./attention/attention.js";
import type { TransformerBlock } from "./block.js";
import { TransformerKVCache } from "./cache.js";
import { LayerArgumentError } from "./errors.js";
import type { CheckpointContents, ForwardOptions, LanguageModel, LanguageModelConfig, SavableModel } from "./language_model.js";
import { Module } from "./module.js";

/**
 * The loop every decoder-only model shares: embed, run the blocks with one attention context and
 * the cache, then norm and project to logits. An architecture supplies the three ends and its
 * checkpoint config; parameters are named as in its checkpoint, so stateDict() is the file's layout.
 */
export abstract class TransformerLanguageModel extends Module implements LanguageModel, SavableModel {
  abstract readonly config: LanguageModelConfig;
  protected abstract readonly blocks: readonly TransformerBlock[];

  /** Token (and absolute position) embeddings: [batch, seq, hidden]. */
  protected abstract embed(ids: Tensor, positionIds: Tensor): Tensor;
  /** Final norm and output head: [batch, seq, hidden] -> [batch, seq, vocab]. */
  protected abstract head(hidden: Tensor): Tensor;
  /** config.json contents that reproduce this model. */
  abstract checkpointConfig(): Record<string, unknown>;

  /** Position ids when the caller gives none (GLM overrides: its ids are 2-D). */
  protected defaultPositions(batch: number, seq: number, past: number, attentionMask?: Tensor): Tensor {
    return defaultPositionIds(batch, seq, past, attentionMask);
  }

  forward(ids: Tensor, options: ForwardOptions = {}): Tensor {
    if (ids.dtype !== "int32" || ids.rank !== 2) {
      throw new LayerArgumentError(`forward: expected int32 ids of shape [batch, seq], found ${ids.dtype} [${ids.shape.join(",")}]`);
    }
    const [batch, seq] = ids.shape as [number, number];
    const cache = options.cache;
    if (cache && !(cache instanceof TransformerKVCache && cache.layers.length === this.blocks.length)) {
      throw new LayerArgumentError(`forward: expected a cache from this model's createCache() (${this.blocks.length} layers)`);
    }
    const past = cache?.length ?? 0;
    const keep = options.logitsToKeep;
    if (keep !== undefined && (!Number.isInteger(keep) || keep < 0)) {
      throw new LayerArgumentError(`forward: logitsToKeep must be a non-negative integer, found ${keep}`);
    }
    return tidy(() => {
      const positionIds = options.positionIds ?? this.defaultPositions(batch, seq, past, options.attentionMask);
      const context: AttentionContext = {
        positionIds,
        mask: buildAttentionMask(seq, past + seq, options.attentionMask),
      };
      let h = this.embed(ids, positionIds);
      this.blocks.forEach((block, i) => {
        h = block.forward(h, context, cache?.layers[i]);
      });
      return this.head(keep && keep < seq ? h.slice(1, seq - keep) : h);
    });
  }

  createCache(): TransformerKVCache {
    return new TransformerKVCache(this.blocks.length);
  }

  /** config.json contents and every parameter under its checkpoint name (a tied head once). */
  toCheckpoint(): CheckpointContents {
    return { config: this.checkpointConfig(), tensors: this.stateDict() };
  }
}
