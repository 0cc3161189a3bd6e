import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { grid, sizeOf } from "../layout.js";
import { loadExpr, storageType } from "../storage.js";
import { WebGPUKernelError } from "../errors.js";
import { Meta, shader, type Binding } from "./codegen.js";
import { matmul } from "./matmul.js";
import { SUBGROUP_REDUCE, TREE_REDUCE } from "./rows.js";
import { tiledAttention, tiledShape } from "./attention-tiled.js";

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * Up to this many queries per (batch, head), the row kernel; beyond, two GEMMs around a row pass.
 * 4 is where the matmul leaves its matrix-vector variant for tiles that share k and v between rows.
 */
export const ROW_KERNEL_MAX_QUERIES = 4;

/** Which attention kernel runs: chosen by size ("auto"), or one forced (tests, benchmarks). */
export type AttentionKernel = "auto" | "rows" | "gemm" | "tiled";

/**
 * From this many scores per (batch, head) on (T x S), "auto" takes the tiled kernel. On SwiftShader
 * it beat the GEMM path at 128 x 128 (B1 H12 D64: 0.43 vs 0.69 s) and 1024 x 1024, but lost inside
 * a whole prefill of 64 tokens (4 heads of 32: too few query tiles, so too few workgroups, to keep
 * the threads busy). No real GPU has compared them yet.
 */
export const TILED_MIN_SCORES = 128 * 128;

/**
 * Fused attention. Decoding (T <= ROW_KERNEL_MAX_QUERIES) runs `rowAttention`, everything in one
 * dispatch; longer query blocks run `gemmAttention`, because the row kernel re-reads all of k and
 * v for every query row; from TILED_MIN_SCORES scores per head `tiledAttention` (flash-style: k
 * and v shared by a tile of queries, an online softmax, nothing of size T x S written); between
 * them, and for heads wider than 512, `gemmAttention`: q k^T and p v on the matmul kernels around
 * a row pass, which writes the [B, H, T, S] scores and probabilities. On SwiftShader (B1 H12 D64, fused vs composed): T = 1
 * over 1024 keys 46 vs 878 ms, T = 4 over 256 keys 44 vs 566 ms; the row kernel at T = 8 was 98 vs
 * 76 ms, hence the switch at 4.
 */
export function attention(
  ctx: KernelContext,
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  kernel: AttentionKernel = "auto",
): WebGPUBuffer {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const S = k.shape[2]!;
  const rows = B * H * T;
  if (sizeOf(q.shape) === 0 || S === 0) {
    // No keys at all: every row is fully masked, so zeros.
    const out = ctx.alloc(rows * D, "float32");
    if (rows * D > 0) ctx.batcher.clear(out.gpu, rows * D * 4);
    return out;
  }
  const tiled = tiledShape(D, ctx.limits.maxWorkgroupStorage);
  const choice = kernel !== "auto" ? kernel : T <= ROW_KERNEL_MAX_QUERIES ? "rows" : tiled ? "tiled" : "gemm";
  if (choice === "tiled") {
    if (!tiled) throw new WebGPUKernelError(`webgpu attention: head dim ${D} is too wide for the tiled kernel's workgroup memory`);
    return tiledAttention(ctx, q, k, v, mask, bias, scale, tiled);
  }
  return choice === "rows" ? rowAttention(ctx, q, k, v, mask, bias, scale) : gemmAttention(ctx, q, k, v, mask, bias, scale);
}

/**
 * scores = q k^T and out = p v on the matmul kernels, with scale, bias, mask and softmax in one
 * row pass between them (the composed path needs four kernels there). Grouped query heads are
 * folded into the matmul rows when the view allows, else k is broadcast (stride 0), never copied.
 */
function gemmAttention(
  ctx: KernelContext,
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
): WebGPUBuffer {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const G = H / Hkv;
  const [qb, qh, qt, qd] = q.strides as [number, number, number, number];
  const [kb, kh, ks, kd] = k.strides as [number, number, number, number];
  const scores =
    G === 1 || qh === T * qt
      ? matmul(
          ctx,
          { buffer: q.buffer, shape: [B, Hkv, G * T, D], strides: [qb, qh * G, qt, qd], offset: q.offset },
          { buffer: k.buffer, shape: [B, Hkv, D, S], strides: [kb, kh, kd, ks], offset: k.offset },
        )
      : matmul(
          ctx,
          { buffer: q.buffer, shape: [B, Hkv, G, T, D], strides: [qb, qh * G, qh, qt, qd], offset: q.offset },
          { buffer: k.buffer, shape: [B, Hkv, G, D, S], strides: [kb, kh, 0, kd, ks], offset: k.offset },
        );
  // Either way the scores are contiguous [B, H, T, S].
  const scoresView = { buffer: scores, shape: [B, H, T, S], strides: [H * T * S, T * S, S, 1], offset: 0 };
  const probs = ctx.alloc(B * H * T * S, "float32");
  dispatchRows(ctx, { kind: "scores", scores: scoresView }, q.shape, S, mask, bias, scale, probs, null);
  ctx.free(scores);
  const [vb, vh, vs, vd] = v.strides as [number, number, number, number];
  const out = matmul(
    ctx,
    { buffer: probs, shape: [B, Hkv, G * T, S], strides: [Hkv * G * T * S, G * T * S, S, 1], offset: 0 },
    { buffer: v.buffer, shape: [B, Hkv, S, D], strides: [vb, vh, vs, vd], offset: v.offset },
  );
  ctx.free(probs);
  return out;
}

/**
 * One workgroup per query row (b, h, t), in one dispatch:
 *  1. the workgroup's threads take the keys in turn: score = q.k * scale + bias (masked keys
 *     -Infinity) into a scratch row, with a workgroup max;
 *  2. probabilities exp(score - max) in place, with a workgroup sum;
 *  3. the weighted sum of v, split over (head dim, key slice) so all threads work when D is
 *     smaller than the workgroup, the key slices summed in workgroup memory.
 * Keys and values (GQA heads, the KV cache) are read in place through their strides.
 */
function rowAttention(
  ctx: KernelContext,
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
): WebGPUBuffer {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const S = k.shape[2]!;
  const rows = B * H * T;
  const out = ctx.alloc(rows * D, "float32");
  const scratch = ctx.alloc(rows * S, "float32");
  dispatchRows(ctx, { kind: "qkv", q, k, v }, q.shape, S, mask, bias, scale, scratch, out);
  ctx.free(scratch);
  return out;
}

/** Where the row pass gets its scores: q.k computed here (then p.v too), or a scores matrix. */
type RowSource = { kind: "qkv"; q: StridedView; k: StridedView; v: StridedView } | { kind: "scores"; scores: StridedView };

/**
 * The row pass both paths share: scores (computed or read), scale, bias, mask, softmax into `P`;
 * for the "qkv" source also the weighted sum of v into `out`.
 */
function dispatchRows(
  ctx: KernelContext,
  src: RowSource,
  qShape: readonly number[],
  S: number,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  P: WebGPUBuffer,
  out: WebGPUBuffer | null,
): void {
  const [B, H, T, D] = qShape as [number, number, number, number];
  const rows = B * H * T;
  const Hkv = src.kind === "qkv" ? src.k.shape[1]! : H;
  // The scores pass is light per key (64 threads matched softmax's speed); the q.k pass wants more.
  const WG = src.kind === "scores" ? (S >= 1024 ? 256 : 64) : S >= 1024 ? 256 : S >= 256 ? 128 : 64;
  const meta = new Meta();
  const R = meta.push(rows);
  const TT = meta.push(T);
  const HH = meta.push(H);
  const G = meta.push(H / Hkv);
  const SS = meta.push(S);
  const DD = meta.push(D);
  const SCALE = `bitcast<f32>(${meta.push(f32Bits(scale))})`;
  // [offset, stride 0, stride 1, ...] of a view as uniform reads.
  const strides = (view: StridedView) => [meta.push(view.offset), ...view.strides.map((x) => meta.push(x))];
  // Element offset of row (b, h, t) in a [B, H, T, ...] view.
  const at = (o: readonly string[]) => `${o[0]} + b * ${o[1]} + h * ${o[2]} + t * ${o[3]}`;
  const m = mask ? strides(mask) : null;
  const bi = bias ? strides(bias) : null;
  const biasTerm = bi ? ` + ${loadExpr(bias!.buffer.dtype, `Bi[ob + j * ${bi[4]}]`)}` : "";
  const inputs: StridedView[] = [];
  const bindings: Binding[] = [];
  let rowSetup: string;
  let score: string;
  let weightedSum = "";
  if (src.kind === "qkv") {
    const { q, k, v } = src;
    const [qo, qb, qh, qt, qd] = strides(q);
    const [ko, kb, kh, ks, kd] = strides(k);
    const [vo, vb, vh, vs, vd] = strides(v);
    inputs.push(q, k, v);
    bindings.push(
      { name: "Q", type: storageType(q.buffer.dtype) },
      { name: "K", type: storageType(k.buffer.dtype) },
      { name: "V", type: storageType(v.buffer.dtype) },
    );
    rowSetup = `  let hk = h / ${G};
  let oq = ${at([qo!, qb!, qh!, qt!])};
  let ok = ${ko} + b * ${kb} + hk * ${kh};
  let ov = ${vo} + b * ${vb} + hk * ${vh};`;
    const qk = `${loadExpr(q.buffer.dtype, `Q[oq + d * ${qd}]`)} * ${loadExpr(k.buffer.dtype, `K[okj + d * ${kd}]`)}`;
    score = `var dot = 0.0;
      let okj = ok + j * ${ks};
      for (var d = 0; d < ${DD}; d++) { dot += ${qk}; }
      s = dot * ${SCALE}${biasTerm};`;
    const vAt = loadExpr(v.buffer.dtype, `V[ov + j * ${vs} + d * ${vd}]`);
    weightedSum = `  // Step 3 reads probabilities other threads wrote.
  storageBarrier();
  let inv = select(1.0 / l, 0.0, dead);
  let oo = row * ${DD};
  let parts = max(1, ${WG} / ${DD});
  if (parts == 1) {
    for (var d = i32(lid); d < ${DD}; d += ${WG}) {
      var acc = 0.0;
      for (var j = 0; j < ${SS}; j++) { acc += P[op + j] * ${vAt}; }
      O[oo + d] = acc * inv;
    }
  } else {
    let c = i32(lid);
    var acc = 0.0;
    if (c < ${DD} * parts) {
      let d = c % ${DD};
      for (var j = c / ${DD}; j < ${SS}; j += parts) { acc += P[op + j] * ${vAt}; }
    }
    partial[lid] = acc;
    workgroupBarrier();
    if (c < ${DD}) {
      var total = 0.0;
      for (var i = 0; i < parts; i++) { total += partial[c + i * ${DD}]; }
      O[oo + c] = total * inv;
    }
  }`;
  } else {
    const sc = strides(src.scores);
    inputs.push(src.scores);
    bindings.push({ name: "SC", type: storageType(src.scores.buffer.dtype) });
    rowSetup = `  let osc = ${at(sc)};`;
    score = `s = ${loadExpr(src.scores.buffer.dtype, `SC[osc + j * ${sc[4]}]`)} * ${SCALE}${biasTerm};`;
  }
  if (mask) {
    inputs.push(mask);
    bindings.push({ name: "M", type: storageType(mask.buffer.dtype) });
  }
  if (bias) {
    inputs.push(bias);
    bindings.push({ name: "Bi", type: storageType(bias.buffer.dtype) });
  }
  // With an `out`, P is scratch that rides as a writable "input" (the batcher binds inputs in order).
  bindings.push({ name: "P", type: "f32", write: true });
  if (out) bindings.push({ name: "O", type: "f32", write: true });
  const sg = ctx.features.subgroups;
  const body = `var<workgroup> red: array<f32, ${WG}>;
var<workgroup> partial: array<f32, ${WG}>;
${sg ? SUBGROUP_REDUCE : TREE_REDUCE(WG)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${sg ? ", @builtin(subgroup_size) ss: u32, @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) si: u32" : ""}) {
  let row = i32(wid.y * nwg.x + wid.x);
  if (row >= ${R}) { return; }
  let rc = ${sg ? `RowCtx(lid, sid, si, (${WG}u + ss - 1u) / ss)` : "RowCtx(lid)"};
  let t = row % ${TT};
  let h = (row / ${TT}) % ${HH};
  let b = row / (${TT} * ${HH});
${rowSetup}
  ${m ? `let om = ${at(m)};` : ""}
  ${bi ? `let ob = ${at(bi)};` : ""}
  let op = row * ${SS};
  var mx = neg_inf();
  for (var j = i32(lid); j < ${SS}; j += ${WG}) {
    var s = neg_inf();
    ${
      m
        ? `if (${loadExpr(mask!.buffer.dtype, `M[om + j * ${m[4]}]`)} != 0) {
      ${score}
    }`
        : score
    }
    P[op + j] = s;
    mx = max(mx, s);
  }
  mx = wg_max(mx, rc);
  // Every key masked: no mass anywhere, the row is zeros (as softmax gives), never NaN.
  let dead = mx == neg_inf();
  var l = 0.0;
  for (var j = i32(lid); j < ${SS}; j += ${WG}) {
    let s = P[op + j];
    let p = select(exp(s - mx), 0.0, dead || s == neg_inf());
    P[op + j] = p;
    l += p;
  }
  l = wg_sum(l, rc);
${
  out
    ? weightedSum
    : `  // Normalise: each thread rescales the entries it wrote itself.
  let inv = select(1.0 / l, 0.0, dead);
  for (var j = i32(lid); j < ${SS}; j += ${WG}) { P[op + j] = P[op + j] * inv; }`
}
}`;
  const dtypes = [...inputs.map((x) => x.buffer.dtype), mask ? "m" : "-", bias ? "b" : "-"].join(",");
  const gpuInputs = inputs.map((x) => ctx.buffer(x).gpu);
  ctx.batcher.dispatch({
    key: `attention-${src.kind}${sg ? "+sg" : ""}:${dtypes}:wg${WG}`,
    code: () => shader(meta, bindings, body, sg ? ["subgroups"] : []),
    uniforms: meta.data(),
    inputs: out ? gpuInputs.concat(P.gpu) : gpuInputs,
    output: out ? out.gpu : P.gpu,
    workgroups: grid(rows),
  });
}
