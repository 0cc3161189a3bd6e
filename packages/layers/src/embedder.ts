import type { Tensor } from "@llm/tensor";
import { defaultPositionIds } from "./attention/mask.js";
import type { Embedding } from "./embedding.js";
import { LayerArgumentError } from "./errors.js";
import type { Linear } from "./linear.js";
import type { Norm } from "./norms.js";
import type { PositionEncoding } from "./positions/position_encoding.js";

export interface TokenEmbedderParts {
  /** One vector per token id. */
  tokens: Embedding;
  /** Applied to the token vectors first (OPT's project_in, from the embedding width to the model's). */
  project?: Linear | null;
  /** Absolute positions added next (learned tables, GLM's 2D positions); rotary and ALiBi act in attention instead. */
  positions?: PositionEncoding | null;
  /** Applied last (BLOOM's word_embeddings_layernorm). */
  norm?: Norm | null;
  /** Multiplies the token vectors first (Gemma: sqrt(hidden size)). Default 1. */
  scale?: number;
}

/**
 * The decoder's first part: token ids (and their positions) to hidden states. Holds references
 * to modules the model registers under their checkpoint names; it owns no parameters itself.
 */
export class TokenEmbedder {
  readonly tokens: Embedding;
  readonly project: Linear | null;
  readonly positions: PositionEncoding | null;
  readonly norm: Norm | null;
  readonly scale: number;

  constructor(parts: TokenEmbedderParts) {
    this.tokens = parts.tokens;
    this.scale = parts.scale ?? 1;
    if (!(Number.isFinite(this.scale) && this.scale !== 0)) {
      throw new LayerArgumentError(`TokenEmbedder: scale must be a finite, non-zero number, found ${this.scale}`);
    }
    this.project = parts.project ?? null;
    this.positions = parts.positions ?? null;
    this.norm = parts.norm ?? null;
    if (this.positions && !this.positions.embed) {
      throw new LayerArgumentError(`TokenEmbedder: a ${this.positions.kind} encoding adds nothing to embeddings; give it to Attention`);
    }
  }

  /** Position ids when the caller gives none ([batch, seq]; GLM's [batch, 2, seq]). */
  defaultPositionIds(batch: number, queryLength: number, pastLength: number, attentionMask?: Tensor): Tensor {
    return (
      this.positions?.defaultIds?.(batch, queryLength, pastLength, attentionMask) ??
      defaultPositionIds(batch, queryLength, pastLength, attentionMask)
    );
  }

  /** ids int32 [batch, seq] -> [batch, seq, hidden]. */
  forward(ids: Tensor, positionIds: Tensor): Tensor {
    let h = this.tokens.forward(ids);
    if (this.scale !== 1) h = h.mul(this.scale);
    if (this.project) h = this.project.forward(h);
    if (this.positions) h = h.add(this.positions.embed!(positionIds));
    return this.norm ? this.norm.forward(h) : h;
  }
}
