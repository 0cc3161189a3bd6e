import type { Tensor } from "@llm/tensor";

/**
 * How a model tells attention where tokens are. Each encoding implements the hook it needs:
 * absolute ones add to the token embeddings, rotary rotates queries and keys, ALiBi biases the
 * attention scores. Models call `embed`; attention calls `rotate` and `bias`.
 */
export interface PositionEncoding {
  readonly kind: "learned" | "rotary" | "alibi" | "glm-2d";
  /** Vectors added to the token embeddings: positionIds [batch, seq] (GLM: [batch, 2, seq]) -> [batch, seq, dim]. */
  embed?(positionIds: Tensor): Tensor;
  /** Rotates queries and keys [batch, heads, seq, headDim] to their positions [batch, seq]. */
  rotate?(q: Tensor, k: Tensor, positionIds: Tensor): [Tensor, Tensor];
  /**
   * Added to the attention scores [batch, heads, seq, keys]: for the last `queryLength` of
   * `keyLength` positions, shape [1, heads, queryLength, keyLength].
   */
  bias?(queryLength: number, keyLength: number): Tensor;
  /**
   * Position ids for `queryLength` new tokens after `pastLength` cached ones when the caller gives
   * none; encodings whose ids are not [batch, seq] (GLM's 2D ids) say how. Default: defaultPositionIds.
   */
  defaultIds?(batch: number, queryLength: number, pastLength: number, attentionMask?: Tensor): Tensor;
}
