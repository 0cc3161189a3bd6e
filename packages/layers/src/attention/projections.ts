import type { Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { Linear } from "../linear.js";

/** Query, key and value heads [batch, seq, heads, headDim] (heads first transposed by attention). */
export interface ProjectedHeads {
  q: Tensor;
  k: Tensor;
  v: Tensor;
}

/**
 * How one fused projection's output columns are laid out:
 *  - "blocks": all query heads, then all key heads, then all value heads (GPT-2 c_attn, MPT Wqkv,
 *    GLM, Falcon multi-query with one kv head).
 *  - "grouped": per kv head, its query heads then one key and one value head (Falcon's
 *    new_decoder_architecture); with one query head per kv head this is GPT-NeoX's and BLOOM's
 *    per-head [heads, 3, headDim] layout.
 */
export type FusedLayout = "blocks" | "grouped";

export type QKVProjection =
  | { kind: "separate"; names: { q: string; k: string; v: string }; q: Linear; k: Linear; v: Linear }
  | { kind: "fused"; name: string; linear: Linear; layout: FusedLayout };

export interface HeadCounts {
  heads: number;
  kvHeads: number;
  headDim: number;
}

export function checkProjection(projection: QKVProjection, counts: HeadCounts): void {
  const { heads, kvHeads, headDim } = counts;
  const expect = (what: string, linear: Linear, out: number) => {
    if (linear.outFeatures !== out) {
      throw new LayerArgumentError(`Attention: ${what} must have ${out} outputs (${describe(counts)}), found ${linear.outFeatures}`);
    }
  };
  if (projection.kind === "separate") {
    expect(projection.names.q, projection.q, heads * headDim);
    expect(projection.names.k, projection.k, kvHeads * headDim);
    expect(projection.names.v, projection.v, kvHeads * headDim);
  } else {
    expect(projection.name, projection.linear, (heads + 2 * kvHeads) * headDim);
  }
}

function describe({ heads, kvHeads, headDim }: HeadCounts): string {
  return `${heads} query heads, ${kvHeads} kv heads of ${headDim} dims`;
}

export function projectHeads(projection: QKVProjection, x: Tensor, counts: HeadCounts): ProjectedHeads {
  const { heads, kvHeads, headDim } = counts;
  const [batch, seq] = x.shape as [number, number];
  if (projection.kind === "separate") {
    return {
      q: projection.q.forward(x).reshape(batch, seq, heads, headDim),
      k: projection.k.forward(x).reshape(batch, seq, kvHeads, headDim),
      v: projection.v.forward(x).reshape(batch, seq, kvHeads, headDim),
    };
  }
  const y = projection.linear.forward(x);
  if (projection.layout === "blocks") {
    const qw = heads * headDim;
    const kw = kvHeads * headDim;
    return {
      q: y.slice(-1, 0, qw).reshape(batch, seq, heads, headDim),
      k: y.slice(-1, qw, qw + kw).reshape(batch, seq, kvHeads, headDim),
      v: y.slice(-1, qw + kw).reshape(batch, seq, kvHeads, headDim),
    };
  }
  const perGroup = heads / kvHeads;
  const groups = y.reshape(batch, seq, kvHeads, perGroup + 2, headDim);
  return {
    q: groups.slice(3, 0, perGroup).reshape(batch, seq, heads, headDim),
    k: groups.slice(3, perGroup, perGroup + 1).reshape(batch, seq, kvHeads, headDim),
    v: groups.slice(3, perGroup + 1).reshape(batch, seq, kvHeads, headDim),
  };
}
