import { arange, tensor, concat, stack, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { PositionEncoding } from "./position_encoding.js";

export interface RotaryOptions {
  /** How many leading dims of each head rotate (GPT-J rotary_dim, NeoX rotary_pct * headDim). Default: all. */
  rotaryDim?: number;
  /** Base of the frequencies (default 10000). */
  theta?: number;
  /**
   * "half": dim i pairs with dim i + r/2 (GPT-NeoX, LLaMA, Falcon: rotate_half).
   * "interleaved": dims 2i and 2i+1 form a pair (GPT-J: rotate_every_two).
   */
  style: "half" | "interleaved";
}

/** Rotary position embedding (RoPE): pairs of query/key dims rotate by position * frequency. */
export class RotaryEmbedding implements PositionEncoding {
  readonly kind = "rotary";
  readonly rotaryDim: number;
  readonly theta: number;
  readonly style: "half" | "interleaved";
  private readonly inverseFrequencies: Float32Array;

  constructor(
    readonly headDim: number,
    options: RotaryOptions,
  ) {
    this.rotaryDim = options.rotaryDim ?? headDim;
    this.theta = options.theta ?? 10000;
    this.style = options.style;
    if (!Number.isInteger(this.rotaryDim) || this.rotaryDim < 2 || this.rotaryDim % 2 || this.rotaryDim > headDim) {
      throw new LayerArgumentError(
        `RotaryEmbedding: rotaryDim must be an even integer in [2, ${headDim}] (the head dim), found ${this.rotaryDim}`,
      );
    }
    if (!(this.theta > 0)) throw new LayerArgumentError(`RotaryEmbedding: theta must be positive, found ${this.theta}`);
    const half = this.rotaryDim / 2;
    // float32 like the references: 1 / theta^(2i / r).
    this.inverseFrequencies = Float32Array.from({ length: half }, (_, i) => 1 / this.theta ** ((2 * i) / this.rotaryDim));
  }

  /** cos and sin of position * frequency: [batch, 1, seq, rotaryDim / 2]. */
  angles(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    const inv = tensor(this.inverseFrequencies, { backend: positionIds.backend });
    const phase = positionIds.float().unsqueeze(-1).mul(inv).unsqueeze(1);
    return { cos: phase.cos(), sin: phase.sin() };
  }

  rotate(q: Tensor, k: Tensor, positionIds: Tensor): [Tensor, Tensor] {
    if (positionIds.rank !== 2) {
      throw new LayerArgumentError(`RotaryEmbedding: expected positionIds of shape [batch, seq], found [${positionIds.shape.join(",")}]`);
    }
    const { cos, sin } = this.angles(positionIds);
    return [this.apply(q, cos, sin), this.apply(k, cos, sin)];
  }

  /** Rotates the first rotaryDim dims of x [batch, heads, seq, headDim]; the rest pass through. */
  apply(x: Tensor, cos: Tensor, sin: Tensor): Tensor {
    const r = this.rotaryDim;
    const half = r / 2;
    let a: Tensor;
    let b: Tensor;
    if (this.style === "half") {
      a = x.slice(-1, 0, half);
      b = x.slice(-1, half, r);
    } else {
      a = x.slice(-1, 0, r, 2);
      b = x.slice(-1, 1, r, 2);
    }
    const ra = a.mul(cos).sub(b.mul(sin));
    const rb = b.mul(cos).add(a.mul(sin));
    const rotated = this.style === "half" ? concat([ra, rb], -1) : stack([ra, rb], -1).reshape([...x.shape.slice(0, -1), r]);
    return r === this.headDim ? rotated : concat([rotated, x.slice(-1, r)], -1);
  }
}

/** Positions 0..n-1 as int32 [1, n]; handy for tests and callers without a batch. */
export function positionRange(start: number, length: number): Tensor {
  return arange(start, start + length).reshape(1, length);
}
