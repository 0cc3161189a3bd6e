import { checkIndexRange, lazyZeros, type Rng, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "./errors.js";
import { fillNormal } from "./init.js";
import { Module } from "./module.js";

/** A lookup table: row i of `weight` is the vector of id i. The table may be float16, bfloat16 or quantized; rows come out float32. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    readonly count: number,
    readonly dim: number,
  ) {
    super();
    if (!Number.isInteger(count) || count < 1 || !Number.isInteger(dim) || dim < 1) {
      throw new LayerArgumentError(`Embedding: expected positive integer sizes, found count ${count} and dim ${dim}`);
    }
    this.weight = this.addParameter("weight", lazyZeros([count, dim]));
  }

  /** ids: int32 [...] -> [..., dim]. */
  forward(ids: Tensor): Tensor {
    if (ids.dtype !== "int32") throw new LayerArgumentError(`Embedding: expected int32 ids, found ${ids.dtype}`);
    checkIndexRange(ids, this.count, (id) => `Embedding: id ${id} is outside the table's ${this.count} rows [0, ${this.count})`);
    const rows = this.weight.take(ids, 0);
    if (rows.dtype === "float32") return rows; // float32 and quantized tables (whose rows come dequantized)
    // a half table stays half in memory; the rows it gives are widened for the float32 model
    const wide = rows.cast("float32");
    rows.dispose();
    return wide;
  }

  protected override resetParameters(rng: Rng, std: number): void {
    fillNormal(this.weight, rng, std);
  }
}
