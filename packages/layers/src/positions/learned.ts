import { checkIndexRange, type Tensor } from "@llm/tensor";
import type { Embedding } from "../embedding.js";
import type { PositionEncoding } from "./position_encoding.js";

/**
 * A learned table of position vectors (GPT-2, OPT). OPT's table starts `offset` = 2 rows in, so
 * position p reads row p + 2. The table is an Embedding the model registers under its own name.
 */
export class LearnedPositions implements PositionEncoding {
  readonly kind = "learned";
  readonly offset: number;

  constructor(
    readonly table: Embedding,
    options: { offset?: number } = {},
  ) {
    this.offset = options.offset ?? 0;
  }

  /** Positions the table covers. */
  get maxPositions(): number {
    return this.table.count - this.offset;
  }

  embed(positionIds: Tensor): Tensor {
    const ids = this.offset ? positionIds.add(this.offset) : positionIds;
    checkIndexRange(
      ids,
      this.table.count,
      (v) => `LearnedPositions: position ${v - this.offset} is outside the ${this.maxPositions} positions the table holds`,
    );
    return this.table.forward(ids);
  }
}
