import type { StridedView } from "../backend.js";
import { noGrad, tidy } from "../engine.js";
import { isHalfDType, type DType } from "../dtype.js";
import { ArgumentError, DTypeError, ShapeError, fmtShape } from "../errors.js";
import type { Tensor } from "../tensor.js";
import { broadcastView, fromBuffer, record, requireFloat, sameBackend } from "./core.js";
import { where } from "./elementwise.js";
import { sumToShape } from "./reduce.js";
import { softmax } from "./nn.js";

export interface ScaledDotProductAttentionOptions {
  /** bool, broadcastable to [B, H, T, S]; true where a query may attend to a key. */
  mask?: Tensor | null;
  /** float32, broadcastable to [B, H, T, S]; added to the scaled scores (ALiBi). */
  bias?: Tensor | null;
  /** Multiplies q.k before the bias (default 1 / sqrt(D)). */
  scale?: number;
  /**
   * Soft-caps the scaled scores before the bias and mask: cap * tanh(s / cap) (Gemma 2's
   * attn_logit_softcapping). Default: none.
   */
  softcap?: number | null;
}

const OP = "scaledDotProductAttention";

interface Dims {
  B: number;
  H: number;
  Hkv: number;
  T: number;
  S: number;
  D: number;
}

function checkRank4(t: Tensor, name: string, expected: string): void {
  // keys and values may be half (a float16 KV cache): read as their float32 values
  if (name === "q" || !isHalfDType(t.dtype)) requireFloat(t, OP, name);
  if (t.rank !== 4) throw new ShapeError(`${OP}: ${name} must have rank 4 ${expected}, got ${fmtShape(t.shape)}`);
}

/** Shape rules of the op; returns the sizes. */
function checkInputs(q: Tensor, k: Tensor, v: Tensor, mask: Tensor | null, bias: Tensor | null): Dims {
  checkRank4(q, "q", "[batch, heads, queries, headDim]");
  checkRank4(k, "k", "[batch, kvHeads, keys, headDim]");
  checkRank4(v, "v", "[batch, kvHeads, keys, headDim]");
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const kExpected = [B, Hkv, S, D];
  if (k.shape.some((d, i) => d !== kExpected[i])) {
    throw new ShapeError(`${OP}: k must have shape [${B}, kvHeads, keys, ${D}] to match q ${fmtShape(q.shape)}, got ${fmtShape(k.shape)}`);
  }
  if (v.shape.some((d, i) => d !== k.shape[i])) {
    throw new ShapeError(`${OP}: v must have the shape of k ${fmtShape(k.shape)}, got ${fmtShape(v.shape)}`);
  }
  if (Hkv === 0 || H % Hkv !== 0) {
    throw new ShapeError(`${OP}: the kv heads of k (${Hkv}) must divide the query heads of q (${H})`);
  }
  const full = [B, H, T, S];
  const checkBroadcast = (t: Tensor, name: string) => {
    const lead = full.length - t.rank;
    if (lead < 0 || t.shape.some((d, i) => d !== 1 && d !== full[i + lead])) {
      throw new ShapeError(
        `${OP}: ${name} must be broadcastable to [batch, heads, queries, keys] = ${fmtShape(full)}, got ${fmtShape(t.shape)}`,
      );
    }
  };
  if (mask) {
    if (mask.dtype !== "bool") throw new DTypeError(`${OP}: mask must be bool, got ${mask.dtype}`);
    checkBroadcast(mask, "mask");
  }
  if (bias) {
    requireFloat(bias, OP, "bias");
    checkBroadcast(bias, "bias");
  }
  return { B, H, Hkv, T, S, D };
}

/**
 * softmax(q k^T * scale + bias, masked) v over [B, H, T, D] queries and [B, Hkv, S, D] keys and
 * values; query head h reads kv head floor(h / (H / Hkv)) (multi-head, grouped- and multi-query).
 * Uses the backend's fused kernels when it has them, forward and backward (the backward recomputes
 * the probabilities, never kept); otherwise, and for soft-capped scores or a bias that needs a
 * gradient, the gradient is composed from primitives.
 */
export function scaledDotProductAttention(q: Tensor, k: Tensor, v: Tensor, options: ScaledDotProductAttentionOptions = {}): Tensor {
  const mask = options.mask ?? null;
  const bias = options.bias ?? null;
  const dims = checkInputs(q, k, v, mask, bias);
  const scale = options.scale ?? 1 / Math.sqrt(dims.D);
  if (!Number.isFinite(scale)) throw new ArgumentError(`${OP}: scale must be a finite number, got ${scale}`);
  const softcap = options.softcap ?? null;
  if (softcap !== null && !(softcap > 0 && Number.isFinite(softcap))) {
    throw new ArgumentError(`${OP}: softcap must be a positive finite number or null, got ${softcap}`);
  }
  const backend = sameBackend(OP, q, k, v, ...(mask ? [mask] : []), ...(bias ? [bias] : []));
  if (k.dtype !== "float32" || v.dtype !== "float32") {
    const asStored = softcap === null && backend.fused?.attentionReadsHalves === true && !q.requiresGrad && !bias?.requiresGrad;
    if (!asStored) return overFloat32(q, k, v, options);
  }
  const full = [dims.B, dims.H, dims.T, dims.S];
  const y = noGrad(() =>
    tidy(() => {
      // the fused kernels do not soft-cap: capped scores take the composed path
      const fused = softcap === null ? backend.fused?.attention : undefined;
      if (!fused) return composedAttention(q, k, v, mask, bias, scale, softcap, dims);
      const view = (t: Tensor | null): StridedView | null => (t ? broadcastView(t, full) : null);
      const out = fused(q.view(), k.view(), v.view(), view(mask), view(bias), scale);
      return fromBuffer(backend, out, [dims.B, dims.H, dims.T, dims.D], "float32");
    }),
  );
  const inputs = bias ? [q, k, v, bias] : [q, k, v];
  // The mask is no input (no gradient) but backward reads it: saved, so the scope that made it keeps it.
  return record(y, OP, inputs, (g) => attentionBackward(g, q, k, v, mask, bias, scale, softcap, dims), mask ? [mask] : []);
}

/**
 * Attention over half keys and values where the backend's kernel does not read them as stored (or
 * a gradient or soft cap takes the composed path): over their float32 values, widened here and
 * freed after unless a gradient needs them.
 */
function overFloat32(q: Tensor, k: Tensor, v: Tensor, options: ScaledDotProductAttentionOptions): Tensor {
  const [k32, v32] = [k, v].map((t) => (t.dtype === "float32" ? t : t.float())) as [Tensor, Tensor];
  const rounds = q.backend.fused?.attentionRoundsHalves === true && !q.requiresGrad && !options.bias?.requiresGrad;
  const y = rounds ? roundedAttention(q, k32, v32, { q: k.dtype, p: v.dtype }, options) : scaledDotProductAttention(q, k32, v32, options);
  if (!y.requiresGrad) {
    if (k32 !== k) k32.dispose();
    if (v32 !== v) v32.dispose();
  }
  return y;
}

/**
 * The composed attention with the query rounded to `rounding.q` and the softmax's weights to
 * `rounding.p`, as the backend's kernel rounds them (FusedKernels.attentionRoundsHalves); no gradient.
 */
function roundedAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  rounding: { q: DType; p: DType },
  options: ScaledDotProductAttentionOptions,
): Tensor {
  const [mask, bias] = [options.mask ?? null, options.bias ?? null];
  const d = checkInputs(q, k, v, mask, bias);
  const scale = options.scale ?? 1 / Math.sqrt(d.D);
  return noGrad(() => tidy(() => composedAttention(q, k, v, mask, bias, scale, options.softcap ?? null, d, rounding)));
}

/** q.k [B, H, T, S], unscaled. */
function rawScores(q: Tensor, k: Tensor, d: Dims): Tensor {
  // Grouped query heads ride along the row axis: [B, Hkv, G*T, D] x [B, Hkv, D, S], so k is never copied per group.
  const G = d.H / d.Hkv;
  const qg = G === 1 ? q : q.reshape(d.B, d.Hkv, G * d.T, d.D);
  const scores = qg.matmul(k.transpose(-1, -2));
  return G === 1 ? scores : scores.reshape(d.B, d.H, d.T, d.S);
}

/**
 * The scores softmax reads: q.k * scale, soft-capped as cap * tanh(s / cap) when a cap is given
 * (then `tanh` is that tanh, which the backward pass needs).
 */
function scaledScores(q: Tensor, k: Tensor, scale: number, softcap: number | null, d: Dims): { scores: Tensor; tanh: Tensor | null } {
  const scaled = rawScores(q, k, d).mul(scale);
  if (softcap === null) return { scores: scaled, tanh: null };
  const tanh = scaled.div(softcap).tanh();
  return { scores: tanh.mul(softcap), tanh };
}

/** Attention probabilities [B, H, T, S] from the scores, from primitives. */
function probabilities(scores: Tensor, mask: Tensor | null, bias: Tensor | null): Tensor {
  let s = scores;
  if (bias) s = s.add(bias);
  if (mask) s = where(mask, s, -Infinity);
  return softmax(s, -1);
}

/** The reference path: what the fused kernels must reproduce. */
function composedAttention(
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | null,
  bias: Tensor | null,
  scale: number,
  softcap: number | null,
  d: Dims,
  rounding: { q: DType; p: DType } | null = null,
): Tensor {
  const G = d.H / d.Hkv;
  // rounding: llama.cpp's products with a half KV cache (see FusedKernels.attentionRoundsHalves)
  const rounded = (t: Tensor, dtype: DType | undefined): Tensor => (dtype && dtype !== "float32" ? t.cast(dtype).float() : t);
  const p = rounded(probabilities(scaledScores(rounded(q, rounding?.q), k, scale, softcap, d).scores, mask, bias), rounding?.p);
  if (G === 1) return p.matmul(v);
  return p
    .reshape(d.B, d.Hkv, G * d.T, d.S)
    .matmul(v)
    .reshape(d.B, d.H, d.T, d.D);
}

function attentionBackward(
  g: Tensor,
  q: Tensor,
  k: Tensor,
  v: Tensor,
  mask: Tensor | null,
  bias: Tensor | null,
  scale: number,
  softcap: number | null,
  d: Dims,
): (Tensor | null)[] {
  // one fused kernel where the backend has it: no soft cap, no gradient for the bias
  const fused = softcap === null && !bias?.requiresGrad ? g.backend.fused?.attentionGrad : undefined;
  if (fused) {
    const full = [d.B, d.H, d.T, d.S];
    const view = (t: Tensor | null): StridedView | null => (t ? broadcastView(t, full) : null);
    const r = fused(q.view(), k.view(), v.view(), view(mask), view(bias), scale, g.view());
    if (r !== null) {
      const grads: (Tensor | null)[] = [
        fromBuffer(g.backend, r.dq, [d.B, d.H, d.T, d.D], "float32"),
        fromBuffer(g.backend, r.dk, [d.B, d.Hkv, d.S, d.D], "float32"),
        fromBuffer(g.backend, r.dv, [d.B, d.Hkv, d.S, d.D], "float32"),
      ];
      if (bias) grads.push(null);
      return grads;
    }
  }
  const G = d.H / d.Hkv;
  const rows = (t: Tensor, last: number) => (G === 1 ? t : t.reshape(d.B, d.Hkv, G * d.T, last));
  const { scores, tanh } = scaledScores(q, k, scale, softcap, d);
  const p = probabilities(scores, mask, bias);
  const pg = rows(p, d.S);
  const gg = rows(g, d.D);
  // Summing over the query heads of a group is the matmul over the merged G*T rows.
  const dv = pg.transpose(-1, -2).matmul(gg);
  const dp = gg.matmul(v.transpose(-1, -2));
  // Softmax backward; masked keys have p = 0, so no gradient reaches them.
  const ds = pg.mul(dp.sub(dp.mul(pg).sum(-1, true)));
  // through the cap: d(cap * tanh(x * scale / cap)) / dx = scale * (1 - tanh^2)
  const dss = tanh ? ds.mul(rows(tanh.square().neg().add(1), d.S)).mul(scale) : ds.mul(scale);
  const dq = dss.matmul(k);
  const dk = dss.transpose(-1, -2).matmul(G === 1 ? q : q.reshape(d.B, d.Hkv, G * d.T, d.D));
  const grads: (Tensor | null)[] = [G === 1 ? dq : dq.reshape(d.B, d.H, d.T, d.D), dk, dv];
  if (bias) grads.push(bias.requiresGrad ? sumToShape(G === 1 ? ds : ds.reshape(d.B, d.H, d.T, d.S), bias.shape) : null);
  return grads;
}
