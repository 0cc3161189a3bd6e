import { LayerArgumentError } from "../errors.js";
import type { Embedding } from "../embedding.js";
import { concat, zeros, type Tensor } from "@llm/tensor";
import { defaultPositionIds } from "../attention/mask.js";
import type { PositionEncoding } from "./position_encoding.js";

/**
 * GLM's 2D positions: positionIds [batch, 2, seq] hold each token's position in the text (Part B
 * tokens take the position of their [MASK]) and its position inside the span it fills (0 in Part A).
 * The two learned vectors are summed.
 */
export class Glm2DPositions implements PositionEncoding {
  readonly kind = "glm-2d";

  constructor(
    readonly positions: Embedding,
    readonly blockPositions: Embedding,
  ) {}

  /** Without 2D ids: plain left-to-right text (positions as for any model, block position 0). */
  defaultIds(batch: number, queryLength: number, pastLength: number, attentionMask?: Tensor): Tensor {
    const position = defaultPositionIds(batch, queryLength, pastLength, attentionMask).reshape(batch, 1, queryLength);
    return concat([position, zeros([batch, 1, queryLength], { dtype: "int32" })], 1);
  }

  embed(positionIds: Tensor): Tensor {
    if (positionIds.rank !== 3 || positionIds.shape[1] !== 2) {
      throw new LayerArgumentError(
        `Glm2DPositions: expected positionIds of shape [batch, 2, seq] (positions and block positions), found [${positionIds.shape.join(",")}]`,
      );
    }
    const position = positionIds.slice(1, 0, 1).squeeze(1);
    const block = positionIds.slice(1, 1, 2).squeeze(1);
    return this.positions.forward(position).add(this.blockPositions.forward(block));
  }
}
