import { tidy, toBackend, withBackend, type Backend, type Tensor } from "@llm/tensor";
import { buildAttentionMask } from "./attention/mask.js";
import type { AttentionContext } from "./attention/attention.js";
import type { TransformerBlock } from "./block.js";
import { KVBufferSpares, TransformerKVCache } from "./cache.js";
import type { TokenEmbedder } from "./embedder.js";
import { LayerArgumentError } from "./errors.js";
import { freeIntermediate } from "./intermediate.js";
import type {
  CheckpointContents,
  CreateCacheOptions,
  ForwardOptions,
  LanguageModel,
  LanguageModelConfig,
  SavableModel,
} from "./language_model.js";
import { Module, moduleFromTree, type ModuleTree } from "./module.js";
import type { Norm } from "./norms.js";
import type { OutputHead } from "./output_head.js";
import type { PositionEncoding } from "./positions/position_encoding.js";
import type { RotaryTables } from "./positions/rotary.js";

/** What a decoder-only model is made of. */
export interface DecoderParts {
  /**
   * Every module under its checkpoint name, e.g. `{ transformer: { wte, wpe, h: blocks, ln_f },
   * lm_head: head }`: parameter names, and so stateDict() and the saved file, follow this tree.
   */
  modules: { readonly [name: string]: ModuleTree | null | undefined };
  /** ids (and positions) -> hidden states. */
  embed: TokenEmbedder;
  blocks: readonly TransformerBlock[];
  /** Applied after the last block (null: none, as OPT's post-LN variant). */
  finalNorm: Norm | null;
  /** hidden -> vocabulary logits. */
  head: OutputHead;
  config: LanguageModelConfig;
  /** config.json contents that reproduce this model (what toCheckpoint writes). */
  checkpointConfig?: Readonly<Record<string, unknown>>;
  /** Keys of checkpointConfig (dotted paths) that are floats even when whole (30.0: transformers' typed configs insist). */
  checkpointFloatKeys?: readonly string[];
}

/**
 * The decoder every architecture shares, composed from its parts: embed, run the blocks with one
 * attention context and the cache, norm, project to logits. An architecture is a function from its
 * config to these parts; nothing here knows which one it is.
 */
export class TransformerLanguageModel extends Module implements LanguageModel, SavableModel {
  readonly config: LanguageModelConfig;
  readonly embed: TokenEmbedder;
  readonly blocks: readonly TransformerBlock[];
  readonly finalNorm: Norm | null;
  readonly head: OutputHead;
  private readonly savedConfig: Readonly<Record<string, unknown>> | null;
  private readonly floatKeys: readonly string[];

  constructor(parts: DecoderParts) {
    super();
    for (const [name, tree] of Object.entries(parts.modules)) {
      if (tree !== null && tree !== undefined) this.addModule(name, moduleFromTree(tree));
    }
    this.embed = parts.embed;
    this.blocks = parts.blocks;
    this.finalNorm = parts.finalNorm;
    this.head = parts.head;
    this.config = parts.config;
    this.savedConfig = parts.checkpointConfig ?? null;
    this.floatKeys = parts.checkpointFloatKeys ?? [];
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
    // A learned table refuses positions past its end by itself; rotary and ALiBi would compute
    // them, so going past the declared length is refused here unless asked for.
    const length = past + seq;
    if (length > this.config.maxPositions && !this.embed.positions && !options.extrapolate) {
      throw new LayerArgumentError(
        `forward: ${length} positions (${past} cached + ${seq} new) exceed the model's maxPositions ${this.config.maxPositions} ` +
          "(its config's declared length); pass extrapolate: true to go past it",
      );
    }
    // Tensors made here (positions, masks) go to the model's backend, and ids, positions and masks
    // a caller made on the default backend move there: a model loaded onto a GPU takes CPU ids.
    const backend = this.backend;
    return withBackend(backend, () =>
      tidy(() => {
        const attentionMask = options.attentionMask && toBackend(options.attentionMask, backend);
        const positionIds = options.positionIds
          ? toBackend(options.positionIds, backend)
          : this.embed.defaultPositionIds(batch, seq, past, attentionMask);
        const context: AttentionContext = {
          positionIds,
          mask: buildAttentionMask(seq, past + seq, attentionMask),
          prepared: this.preparePositions(positionIds),
        };
        // a new cache makes its buffers before this step's temporaries (see TransformerKVCache.reserve)
        if (cache && past === 0) {
          cache.reserve(
            this.blocks.map(({ attention: { counts } }) => ({
              shape: [batch, counts.kvHeads, seq, counts.headDim],
              dtype: "float32",
              backend,
            })),
          );
        }
        let h = tidy(() => this.embed.forward(toBackend(ids, backend), positionIds)); // frees its lookups once summed
        // A scope per block: without autograd each block's intermediates are freed as soon as it
        // is done, so a long prompt holds one block's activations at a time, not every block's.
        this.blocks.forEach((block, i) => {
          const input = h;
          h = tidy(() => block.forward(input, context, cache?.layers[i]));
          freeIntermediate(input, h);
        });
        if (keep && keep < seq) h = h.slice(1, seq - keep);
        return this.head.forward(this.finalNorm ? this.finalNorm.forward(h) : h);
      }),
    );
  }

  /**
   * Each distinct position encoding's tables for this forward's positions (rotary's cos and sin),
   * made here once rather than in every layer (a TinyLlama-shaped decoding step, 22 layers, made
   * them 22 times: with the four-op rotation, once cut its JavaScript by about 2 of 10 ms).
   */
  private preparePositions(positionIds: Tensor): Map<PositionEncoding, RotaryTables> {
    const prepared = new Map<PositionEncoding, RotaryTables>();
    for (const { attention } of this.blocks) {
      const position = attention.position;
      if (position?.prepare && !prepared.has(position)) prepared.set(position, position.prepare(positionIds));
    }
    return prepared;
  }

  /** Where the weights live (the token embedding's backend). */
  get backend(): Backend {
    return this.embed.tokens.weight.backend;
  }

  /** The buffers of this model's last disposed cache, for its next one (see KVBufferSpares). */
  private readonly cacheSpares = new KVBufferSpares();

  /**
   * An empty cache; layers with a sliding window keep only what their window still sees. Its
   * buffers have room for the model's maxPositions from the first step where that is small enough
   * (see LayerKVCacheOptions.maxPositions), so decoding never copies them; disposed, they wait for
   * the model's next cache. `options.dtype`: what it keeps keys and values as (float16 halves the
   * memory; see LayerKVCacheOptions.dtype).
   */
  createCache(options: CreateCacheOptions = {}): TransformerKVCache {
    return new TransformerKVCache(this.blocks.length, {
      windows: this.blocks.map((b) => b.attention.slidingWindow),
      maxPositions: this.config.maxPositions,
      spares: this.cacheSpares,
      dtype: options.dtype,
    });
  }

  /** Frees the weights and the buffers a disposed cache left. */
  override dispose(): void {
    this.cacheSpares.dispose();
    super.dispose();
  }

  /** config.json contents that reproduce this model. */
  checkpointConfig(): Record<string, unknown> {
    if (!this.savedConfig) throw new LayerArgumentError("checkpointConfig: this model was assembled without a checkpointConfig");
    return { ...this.savedConfig };
  }

  /** config.json contents and every parameter under its checkpoint name (a tied head once). */
  toCheckpoint(): CheckpointContents {
    return { config: this.checkpointConfig(), tensors: this.stateDict(), floatKeys: this.floatKeys };
  }
}
