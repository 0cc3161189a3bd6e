import type { Tensor } from "@llm/tensor";
import type { RotaryTables } from "./rotary.js";

/**
 * How a model tells attention where tokens are. Each encoding implements the hook it needs:
 * absolute ones add to the token embeddings, rotary rotates queries and keys, ALiBi biases the
 * attention scores. Models call `embed`; attention calls `rotate` and `bias`.
 */
export interface PositionEncoding {
  readonly kind: "learned" | "rotary" | "alibi" | "glm-2d";
  /** Vectors added to the token embeddings: positionIds [batch, seq] (GLM: [batch, 2, seq]) -> [batch, seq, dim]. */
  embed?(positionIds: Tensor): Tensor;
  /**
   * What `rotate` reads of the positions alone (rotary's cos and sin tables): the model makes it
   * once a forward and hands it to every layer, which would each make it again otherwise.
   */
  prepare?(positionIds: Tensor): RotaryTables;
  /**
   * Rotates queries and keys [batch, heads, seq, headDim] to their positions [batch, seq];
   * `prepared`: this forward's prepare(positionIds), where the caller made it.
   */
  rotate?(q: Tensor, k: Tensor, positionIds: Tensor, prepared?: RotaryTables): [Tensor, Tensor];
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
