import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { grid, sizeOf } from "../layout.js";
import { loadExpr, storageType } from "../storage.js";
import { Meta, shader, type Binding } from "./codegen.js";
import { SUBGROUP_REDUCE, TREE_REDUCE } from "./rows.js";

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * Fused attention, one workgroup per query row (b, h, t), in one dispatch:
 *  1. the workgroup's threads take the keys in turn: score = q.k * scale + bias (masked keys
 *     -Infinity) into a scratch row, with a workgroup max;
 *  2. probabilities exp(score - max) in place, with a workgroup sum;
 *  3. the weighted sum of v, split over (head dim, key slice) so all threads work when D is
 *     smaller than the workgroup, the key slices summed in workgroup memory.
 * This is the decode kernel (T = 1: one row per head, keys from the KV cache read in place) and
 * a correct general one; for long prompts each row re-reads all of k and v, where a tiled kernel
 * would share them between rows.
 */
export function attention(
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
  const rows = B * H * T;
  const out = ctx.alloc(rows * D, "float32");
  if (sizeOf(q.shape) === 0) return out;
  if (S === 0) {
    // No keys at all: every row is fully masked.
    ctx.batcher.clear(out.gpu, rows * D * 4);
    return out;
  }
  const scratch = ctx.alloc(rows * S, "float32");
  const WG = S >= 1024 ? 256 : S >= 256 ? 128 : 64;
  const meta = new Meta();
  const R = meta.push(rows);
  const TT = meta.push(T);
  const HH = meta.push(H);
  const G = meta.push(H / Hkv);
  const SS = meta.push(S);
  const DD = meta.push(D);
  const SCALE = `bitcast<f32>(${meta.push(f32Bits(scale))})`;
  const strides = (view: StridedView) => [meta.push(view.offset), ...view.strides.map((s) => meta.push(s))] as const;
  const [qo, qb, qh, qt, qd] = strides(q);
  const [ko, kb, kh, ks, kd] = strides(k);
  const [vo, vb, vh, vs, vd] = strides(v);
  // Element offset of row (b, h, t) in a [B, H, T, ...] view: [offset, sb, sh, st, ...].
  const at = (o: readonly string[]) => `${o[0]} + b * ${o[1]} + h * ${o[2]} + t * ${o[3]}`;
  const m = mask ? strides(mask) : null;
  const bi = bias ? strides(bias) : null;
  const qk = `${loadExpr(q.buffer.dtype, `Q[oq + d * ${qd}]`)} * ${loadExpr(k.buffer.dtype, `K[okj + d * ${kd}]`)}`;
  const score = `var dot = 0.0;
      let okj = ok + j * ${ks};
      for (var d = 0; d < ${DD}; d++) { dot += ${qk}; }
      s = dot * ${SCALE}${bi ? ` + ${loadExpr(bias!.buffer.dtype, `Bi[ob + j * ${bi[4]}]`)}` : ""};`;
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
  let hk = h / ${G};
  let oq = ${at([qo, qb, qh, qt])};
  let ok = ${ko} + b * ${kb} + hk * ${kh};
  let ov = ${vo} + b * ${vb} + hk * ${vh};
  ${m ? `let om = ${at(m)};` : ""}
  ${bi ? `let ob = ${at(bi)};` : ""}
  let op = row * ${SS};
  var mx = neg_inf();
  for (var j = i32(lid); j < ${SS}; j += ${WG}) {
    var s = neg_inf();
    ${m ? `if (${loadExpr(mask!.buffer.dtype, `M[om + j * ${m[4]}]`)} != 0) {
      ${score}
    }` : score}
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
  // Step 3 reads probabilities other threads wrote.
  storageBarrier();
  let inv = select(1.0 / l, 0.0, dead);
  let oo = row * ${DD};
  let parts = max(1, ${WG} / ${DD});
  if (parts == 1) {
    for (var d = i32(lid); d < ${DD}; d += ${WG}) {
      var acc = 0.0;
      for (var j = 0; j < ${SS}; j++) { acc += P[op + j] * ${loadExpr(v.buffer.dtype, `V[ov + j * ${vs} + d * ${vd}]`)}; }
      O[oo + d] = acc * inv;
    }
  } else {
    let c = i32(lid);
    var acc = 0.0;
    if (c < ${DD} * parts) {
      let d = c % ${DD};
      for (var j = c / ${DD}; j < ${SS}; j += parts) { acc += P[op + j] * ${loadExpr(v.buffer.dtype, `V[ov + j * ${vs} + d * ${vd}]`)}; }
    }
    partial[lid] = acc;
    workgroupBarrier();
    if (c < ${DD}) {
      var total = 0.0;
      for (var i = 0; i < parts; i++) { total += partial[c + i * ${DD}]; }
      O[oo + c] = total * inv;
    }
  }
}`;
  const bindings: Binding[] = [
    { name: "Q", type: storageType(q.buffer.dtype) },
    { name: "K", type: storageType(k.buffer.dtype) },
    { name: "V", type: storageType(v.buffer.dtype) },
    ...(mask ? [{ name: "M", type: storageType(mask.buffer.dtype) }] : []),
    ...(bias ? [{ name: "Bi", type: storageType(bias.buffer.dtype) }] : []),
    // The scratch rows ride as a writable "input": the batcher binds inputs in order.
    { name: "P", type: "f32", write: true },
    { name: "O", type: "f32", write: true },
  ];
  const dtypes = [q, k, v, mask, bias].map((x) => x?.buffer.dtype ?? "-").join(",");
  ctx.batcher.dispatch({
    key: `attention${sg ? "+sg" : ""}:${dtypes}:wg${WG}`,
    code: () => shader(meta, bindings, body, sg ? ["subgroups"] : []),
    uniforms: meta.data(),
    inputs: [q, k, v, ...(mask ? [mask] : []), ...(bias ? [bias] : [])].map((x) => ctx.buffer(x).gpu).concat(scratch.gpu),
    output: out.gpu,
    workgroups: grid(rows),
  });
  ctx.free(scratch);
  return out;
}
