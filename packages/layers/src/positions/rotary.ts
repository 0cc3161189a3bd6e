import { arange, tensor, concat, stack, where, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { PositionEncoding } from "./position_encoding.js";
import { dynamicThetaExponent, rotaryFrequencies, type RopeScaling } from "./rope_scaling.js";

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
  /** How the frequencies reach past the trained context (transformers' rope_type; default: none). */
  scaling?: RopeScaling;
}

/** Rotary position embedding (RoPE): pairs of query/key dims rotate by position * frequency. */
export class RotaryEmbedding implements PositionEncoding {
  readonly kind = "rotary";
  readonly rotaryDim: number;
  readonly theta: number;
  readonly style: "half" | "interleaved";
  readonly scaling: RopeScaling;
  /** Multiplies cos and sin (yarn, longrope; 1 otherwise). */
  readonly attentionFactor: number;
  /** The inverse frequencies up to the original context (all of them, for the types that do not depend on length). */
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
    this.scaling = options.scaling ?? { type: "default" };
    const frequencies = rotaryFrequencies(this.rotaryDim, this.theta, this.scaling);
    this.inverseFrequencies = frequencies.inverseFrequencies;
    this.attentionFactor = frequencies.attentionFactor;
  }

  /**
   * The inverse frequencies (rotaryDim / 2) for a sequence whose largest position is
   * `sequenceLength - 1`; only the "dynamic" and "longrope" scalings depend on it.
   */
  frequencies(sequenceLength?: number): Float32Array {
    return rotaryFrequencies(this.rotaryDim, this.theta, this.scaling, sequenceLength).inverseFrequencies;
  }

  /** cos and sin of position * frequency, times the attention factor: [batch, 1, seq, rotaryDim / 2]. */
  angles(positionIds: Tensor): { cos: Tensor; sin: Tensor } {
    const inv = this.frequencyTensor(positionIds);
    const phase = positionIds.float().unsqueeze(-1).mul(inv).unsqueeze(1);
    if (this.attentionFactor === 1) return { cos: phase.cos(), sin: phase.sin() };
    return { cos: phase.cos().mul(this.attentionFactor), sin: phase.sin().mul(this.attentionFactor) };
  }

  /**
   * The inverse frequencies for these positions, on their device. Where they depend on the length
   * (the largest position + 1, as transformers takes it), they are chosen or computed there, so no
   * position is read back to the host.
   */
  private frequencyTensor(positionIds: Tensor): Tensor {
    const backend = positionIds.backend;
    const original = tensor(this.inverseFrequencies, { backend });
    const s = this.scaling;
    if (s.type !== "dynamic" && s.type !== "longrope") return original;
    const length = positionIds.float().max().add(1);
    if (s.type === "longrope") {
      const long = tensor(this.frequencies(s.originalMaxPositions + 1), { backend });
      return where(length.gt(s.originalMaxPositions), long, original);
    }
    // dynamic NTK, in float32 steps as transformers takes them: theta grows with the length
    const r = this.rotaryDim;
    const ratio = length
      .maximum(s.maxPositions)
      .mul(s.factor)
      .div(s.maxPositions)
      .sub(s.factor - 1);
    const theta = ratio.pow(dynamicThetaExponent(r)).mul(this.theta);
    const exponents = tensor(
      Float32Array.from({ length: r / 2 }, (_, i) => (2 * i) / r),
      { backend },
    );
    const grown = theta.pow(exponents).reciprocal();
    return where(length.gt(s.maxPositions), grown, original);
  }

  /**
   * What every layer's rotation reads, made once a forward (see PositionEncoding.prepare): cos over
   * all rotaryDim dims (each angle at both dims of its pair) and sin signed as each pair's swap
   * needs it (-sin at the pair's first dim, sin at its second), [batch, 1, seq, rotaryDim].
   */
  prepare(positionIds: Tensor): RotaryTables {
    if (positionIds.rank !== 2) {
      throw new LayerArgumentError(`RotaryEmbedding: expected positionIds of shape [batch, seq], found [${positionIds.shape.join(",")}]`);
    }
    const { cos, sin } = this.angles(positionIds);
    const [batch, , seq] = cos.shape as [number, number, number];
    const pairs = (first: Tensor, second: Tensor): Tensor =>
      this.style === "half" ? concat([first, second], -1) : stack([first, second], -1).reshape(batch, 1, seq, this.rotaryDim);
    return { cos: pairs(cos, cos), sin: pairs(sin.neg(), sin) };
  }

  /** `tables`: this forward's prepare(positionIds), where the caller made them (else made here). */
  rotate(q: Tensor, k: Tensor, positionIds: Tensor, tables?: RotaryTables): [Tensor, Tensor] {
    const t = tables ?? this.prepare(positionIds);
    return [this.apply(q, t), this.apply(k, t)];
  }

  /**
   * Rotates the first rotaryDim dims of x [batch, heads, seq, headDim]; the rest pass through.
   * Pair (a, b) becomes (a cos - b sin, b cos + a sin) as x * cos + swapped(x) * signed sin, where
   * swapped(x) holds each pair as (b, a): b * -sin is exactly -(b * sin), so every value is the
   * same float as transformers' q * cos + rotate_half(q) * sin, in four ops rather than seven.
   */
  apply(x: Tensor, tables: RotaryTables): Tensor {
    const r = this.rotaryDim;
    const half = r / 2;
    const rotating = r === this.headDim ? x : x.slice(-1, 0, r);
    const swapped =
      this.style === "half"
        ? concat([x.slice(-1, half, r), x.slice(-1, 0, half)], -1)
        : stack([x.slice(-1, 1, r, 2), x.slice(-1, 0, r, 2)], -1).reshape([...x.shape.slice(0, -1), r]);
    const rotated = rotating.mul(tables.cos).add(swapped.mul(tables.sin));
    return r === this.headDim ? rotated : concat([rotated, x.slice(-1, r)], -1);
  }
}

/** A forward's rotary tables (RotaryEmbedding.prepare): cos and signed sin, [batch, 1, seq, rotaryDim]. */
export interface RotaryTables {
  cos: Tensor;
  sin: Tensor;
}

/** Positions 0..n-1 as int32 [1, n]; handy for tests and callers without a batch. */
export function positionRange(start: number, length: number): Tensor {
  return arange(start, start + length).reshape(1, length);
}
