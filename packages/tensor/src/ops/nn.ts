import { ShapeError, fmtShape } from "../errors.js";
import { getBackend, noGrad, tidy } from "../engine.js";
import { normalizeAxis } from "../shape.js";
import type { Tensor } from "../tensor.js";
import { fromBuffer, record, requireDType, requireFloat, sameBackend } from "./core.js";
import { arange } from "./creation.js";
import { where } from "./elementwise.js";
import { sumToShape } from "./reduce.js";
import { reshape, transpose } from "./views.js";
import type { Backend, NormGrads } from "../backend.js";

/** Runs a last-axis op on any axis by swapping that axis to the end and back. */
function onLastAxis(x: Tensor, axis: number, op: string, fn: (x: Tensor) => Tensor): Tensor {
  const ax = normalizeAxis(axis, x.rank, op);
  if (ax === x.rank - 1) return fn(x);
  return transpose(fn(transpose(x, ax, -1)), ax, -1);
}

/** Row max with -Infinity rows mapped to 0, so fully masked rows give 0 (not NaN). */
function safeRowMax(x: Tensor): Tensor {
  const m = x.max(-1, true);
  return where(m.eq(-Infinity), 0, m);
}

export function softmax(x: Tensor, axis = -1): Tensor {
  requireFloat(x, "softmax");
  return tidy(() => softmaxOnAxis(x, axis));
}

function softmaxOnAxis(x: Tensor, axis: number): Tensor {
  return onLastAxis(x, axis, "softmax", (v) => {
    const fused = v.backend.fused?.softmax;
    const y = noGrad(() => {
      if (fused) return fromBuffer(v.backend, fused(v.view()), v.shape, "float32");
      const e = v.sub(safeRowMax(v)).exp();
      const s = e.sum(-1, true);
      return e.div(where(s.eq(0), 1, s));
    });
    return record(y, "softmax", [v], (g) => [y.mul(g.sub(g.mul(y).sum(-1, true)))]);
  });
}

export function logSoftmax(x: Tensor, axis = -1): Tensor {
  requireFloat(x, "logSoftmax");
  return tidy(() => logSoftmaxOnAxis(x, axis));
}

function logSoftmaxOnAxis(x: Tensor, axis: number): Tensor {
  return onLastAxis(x, axis, "logSoftmax", (v) => {
    const fused = v.backend.fused?.logSoftmax;
    const y = noGrad(() => {
      if (fused) return fromBuffer(v.backend, fused(v.view()), v.shape, "float32");
      const shifted = v.sub(safeRowMax(v));
      return shifted.sub(shifted.exp().sum(-1, true).log());
    });
    const fusedGrad = v.backend.fused?.logSoftmaxGrad;
    return record(y, "logSoftmax", [v], (g) => [
      fusedGrad ? fromBuffer(v.backend, fusedGrad(y.view(), g.view()), v.shape, "float32") : g.sub(y.exp().mul(g.sum(-1, true))),
    ]);
  });
}

/**
 * -log softmax(logits)[target] for each row of the last axis: logits float32 [..., vocab], int32
 * targets [...] in [0, vocab) (in range: crossEntropy in @llm/layers checks them). Differentiable
 * through logits. The values of -logSoftmax(logits).takeAlongAxis(targets), to the bit on the CPU
 * backend's resident kernels; where the backend has the fused kernels (logSumExpRows and
 * crossEntropyGrad) neither the [..., vocab] log-probabilities nor their gradient's mostly-zero
 * tensor are made - for GPT-2's 50,257-token vocabulary over 2,048 positions, two 412 MB tensors
 * a step - and the backward is one pass over the logits.
 */
export function crossEntropyRows(logits: Tensor, targets: Tensor): Tensor {
  requireFloat(logits, "crossEntropyRows", "logits");
  requireDType(targets, ["int32"], "crossEntropyRows", "targets");
  sameBackend("crossEntropyRows", logits, targets);
  const lead = logits.shape.slice(0, -1);
  if (logits.rank === 0 || targets.rank !== lead.length || targets.shape.some((d, i) => d !== lead[i])) {
    throw new ShapeError(
      `crossEntropyRows: targets must have the logits' shape without its last axis, ${fmtShape(lead)} for logits ${fmtShape(logits.shape)}, got ${fmtShape(targets.shape)}`,
    );
  }
  const backend = logits.backend;
  const fused = backend.fused;
  const logSumExp = fused?.logSumExpRows;
  const grad = fused?.crossEntropyGrad;
  if (!logSumExp || !grad) {
    return tidy(() => logSoftmax(logits, -1).takeAlongAxis(targets.unsqueeze(-1), -1).squeeze(-1).neg());
  }
  return tidy(() => {
    const { shift, loss } = noGrad(() => {
      const shift = fromBuffer(backend, logSumExp(logits.view()), lead, "float32");
      // (x_t - shift) rounded, then negated: logSoftmax's value at the target, negated
      return { shift, loss: logits.takeAlongAxis(targets.unsqueeze(-1), -1).squeeze(-1).sub(shift).neg() };
    });
    return record(
      loss,
      "crossEntropy",
      [logits],
      (g) => [fromBuffer(backend, grad(logits.view(), shift.view(), targets.view(), g.view()), logits.shape, "float32")],
      [shift, targets],
    );
  });
}

function checkNormParam(p: Tensor | null, x: Tensor, op: string, name: string): void {
  if (!p) return;
  requireFloat(p, op, name);
  const d = x.shape[x.rank - 1];
  if (p.rank !== 1 || p.shape[0] !== d) {
    throw new ShapeError(`${op}: ${name} must have shape [${d}] (the last dim of x ${fmtShape(x.shape)}), got ${fmtShape(p.shape)}`);
  }
}

/** The gradients of a norm's inputs (x, then weight and bias when present) from a fused backward. */
function normGrads(backend: Backend, r: NormGrads, x: Tensor, weight: Tensor | null, bias: Tensor | null): Tensor[] {
  const grads = [fromBuffer(backend, r.dx, x.shape, "float32")];
  if (weight) grads.push(fromBuffer(backend, r.dweight!, weight.shape, "float32"));
  if (bias) grads.push(fromBuffer(backend, r.dbias!, bias.shape, "float32"));
  return grads;
}

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm. */
export function layerNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  requireFloat(x, "layerNorm");
  checkNormParam(weight, x, "layerNorm", "weight");
  checkNormParam(bias, x, "layerNorm", "bias");
  const backend = sameBackend("layerNorm", x, ...[weight, bias].filter((t): t is Tensor => t !== null));
  const normalized = () => {
    const centered = x.sub(x.mean(-1, true));
    const rstd = centered.square().mean(-1, true).add(eps).rsqrt();
    return { xhat: centered.mul(rstd), rstd };
  };
  const y = noGrad(() =>
    tidy(() => {
      const fused = backend.fused?.layerNorm;
      if (fused) return fromBuffer(backend, fused(x.view(), weight?.view() ?? null, bias?.view() ?? null, eps), x.shape, "float32");
      let out = normalized().xhat;
      if (weight) out = out.mul(weight);
      return bias ? out.add(bias) : out;
    }),
  );
  const inputs = [x, weight, bias].filter((t): t is Tensor => t !== null);
  return record(y, "layerNorm", inputs, (g) => {
    const fusedGrad = backend.fused?.layerNormGrad;
    if (fusedGrad) return normGrads(backend, fusedGrad(x.view(), weight?.view() ?? null, g.view(), eps, bias !== null), x, weight, bias);
    const { xhat, rstd } = normalized();
    const dxhat = weight ? g.mul(weight) : g;
    const dx = dxhat
      .sub(dxhat.mean(-1, true))
      .sub(xhat.mul(dxhat.mul(xhat).mean(-1, true)))
      .mul(rstd);
    const grads: (Tensor | null)[] = [dx];
    if (weight) grads.push(sumToShape(g.mul(xhat), weight.shape));
    if (bias) grads.push(sumToShape(g, bias.shape));
    return grads;
  });
}

/** RMSNorm over the last axis: x / sqrt(mean(x^2) + eps) * weight (LLaMA's). */
export function rmsNorm(x: Tensor, weight: Tensor | null, eps: number): Tensor {
  requireFloat(x, "rmsNorm");
  checkNormParam(weight, x, "rmsNorm", "weight");
  const backend = sameBackend("rmsNorm", x, ...(weight ? [weight] : []));
  const rms = () => x.square().mean(-1, true).add(eps).rsqrt();
  const y = noGrad(() =>
    tidy(() => {
      const fused = backend.fused?.rmsNorm;
      if (fused) return fromBuffer(backend, fused(x.view(), weight?.view() ?? null, eps), x.shape, "float32");
      const out = x.mul(rms());
      return weight ? out.mul(weight) : out;
    }),
  );
  return record(y, "rmsNorm", weight ? [x, weight] : [x], (g) => {
    const fusedGrad = backend.fused?.rmsNormGrad;
    if (fusedGrad) return normGrads(backend, fusedGrad(x.view(), weight?.view() ?? null, g.view(), eps), x, weight, null);
    const r = rms();
    const dxh = weight ? g.mul(weight) : g;
    const dx = dxh.mul(r).sub(x.mul(r.mul(r).mul(r)).mul(dxh.mul(x).mean(-1, true)));
    return weight ? [dx, sumToShape(g.mul(x).mul(r), weight.shape)] : [dx];
  });
}

/** Bool [n, m]: true where column j - row i <= k (the lower triangle shifted by k). */
function triangle(n: number, m: number, k: number, backend: Backend, lower: boolean): Tensor {
  const rows = reshape(arange(0, n, 1, { backend }), [n, 1]);
  const cols = reshape(arange(0, m, 1, { backend }), [1, m]);
  const diff = cols.sub(rows);
  return lower ? diff.le(k) : diff.ge(k);
}

/** Zeros everything above the k-th diagonal of the last two axes. */
export function tril(x: Tensor, k = 0): Tensor {
  const [n, m] = x.shape.slice(-2) as [number, number];
  return tidy(() => where(triangle(n, m, k, x.backend, true), x, 0));
}

/** Zeros everything below the k-th diagonal of the last two axes. */
export function triu(x: Tensor, k = 0): Tensor {
  const [n, m] = x.shape.slice(-2) as [number, number];
  return tidy(() => where(triangle(n, m, k, x.backend, false), x, 0));
}

/**
 * Bool [n, m], true where query i may attend to key j: j <= i + (m - n). With a KV cache of m - n
 * earlier positions, the n new queries are the last n positions.
 */
export function causalMask(n: number, m = n, backend?: Backend): Tensor {
  return tidy(() => triangle(n, m, m - n, backend ?? getBackend(), true));
}
