import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, grid, sizeOf } from "../layout.js";
import { bindingType, loadExpr, storageType, storeExpr, storeStatement } from "../storage.js";
import { Meta, offsets, shader, type Binding } from "./codegen.js";

/**
 * Fused kernels over the last axis, one workgroup per row: the row is read from memory two or
 * three times but never written in between, and the row statistics stay in workgroup memory.
 */
type RowOp = "softmax" | "logSoftmax" | "layerNorm" | "rmsNorm" | "logSoftmaxGrad";

interface Affine {
  view: StridedView;
  name: "W" | "Bi";
}

function f32Bits(v: number): number {
  const a = new Float32Array([v]);
  return new Int32Array(a.buffer)[0]!;
}

/**
 * `g`, for logSoftmaxGrad, is the gradient beside x (there: logSoftmax's output y), of x's shape,
 * read with its own strides; the result is float32 g - e^y sum(g).
 */
export function rowKernel(
  ctx: KernelContext,
  op: RowOp,
  x: StridedView,
  params: { weight?: StridedView | null; bias?: StridedView | null; eps?: number; g?: StridedView } = {},
): WebGPUBuffer {
  const dtype = x.buffer.dtype;
  const r = x.shape.length;
  const L = x.shape[r - 1] ?? 1;
  const size = sizeOf(x.shape);
  // a gradient is float32 whatever x's storage
  const outDtype = op === "logSoftmaxGrad" ? "float32" : dtype;
  const out = ctx.alloc(size, outDtype);
  if (size === 0) return out;
  const rows = size / L;
  const WG = L >= 1024 ? 256 : 64;
  const g = params.g ?? null;
  const c = coalesce(x.shape.slice(0, r - 1), g ? [x.strides.slice(0, r - 1), g.strides.slice(0, r - 1)] : [x.strides.slice(0, r - 1)]);
  const meta = new Meta();
  const R = meta.push(rows);
  const LEN = meta.push(L);
  const SL = meta.push(x.strides[r - 1] ?? 1);
  const EPS = `bitcast<f32>(${meta.push(f32Bits(params.eps ?? 0))})`;
  const SLG = g ? meta.push(g.strides[r - 1] ?? 1) : "";
  const rowOffset = offsets(meta, "wg", c.shape, [
    { name: "x", strides: c.strides[0]!, offset: x.offset },
    ...(g ? [{ name: "g", strides: c.strides[1]!, offset: g.offset }] : []),
  ]);
  const affine: Affine[] = [];
  if (params.weight) affine.push({ view: params.weight, name: "W" });
  if (params.bias) affine.push({ view: params.bias, name: "Bi" });
  const affineMeta = affine.map((a) => ({ off: meta.push(a.view.offset), stride: meta.push(a.view.strides[0] ?? 0) }));
  const xk = loadExpr(dtype, `X[o_x + k * ${SL}]`);
  const loop = (stmt: string) => `  for (var k = i32(lid); k < ${LEN}; k += ${WG}) { ${stmt} }`;
  const affineExpr = (v: string) => {
    let e = v;
    affine.forEach((a, i) => {
      const w = loadExpr(a.view.buffer.dtype, `${a.name}[${affineMeta[i]!.off} + k * ${affineMeta[i]!.stride}]`);
      e = a.name === "W" ? `(${e}) * ${w}` : `${e} + ${w}`;
    });
    return e;
  };
  const write = (v: string) => loop(storeStatement(outDtype, "O", "o_o + k", storeExpr(outDtype, v)));
  let main: string;
  switch (op) {
    case "softmax":
    case "logSoftmax":
      main = `  var m = neg_inf();
${loop(`m = max(m, ${xk});`)}
  m = wg_max(m, rc);
  var s = 0.0;
${loop(`s += exp(${xk} - m);`)}
  s = wg_sum(s, rc);
  // A fully masked row (max = -Infinity) has no mass: 0 probabilities, -Infinity log-probabilities.
  let dead = m == neg_inf();
${op === "softmax" ? write(`select(exp(${xk} - m) / s, 0.0, dead)`) : write(`select(${xk} - m - log(s), neg_inf(), dead)`)}`;
      break;
    case "layerNorm":
      main = `  var s = 0.0;
${loop(`s += ${xk};`)}
  let mean = wg_sum(s, rc) / f32(${LEN});
  var q = 0.0;
${loop(`let d = ${xk} - mean; q += d * d;`)}
  let rstd = 1.0 / sqrt(wg_sum(q, rc) / f32(${LEN}) + ${EPS});
${write(affineExpr(`(${xk} - mean) * rstd`))}`;
      break;
    case "logSoftmaxGrad": {
      const gk = loadExpr(g!.buffer.dtype, `G[o_g + k * ${SLG}]`);
      main = `  var s = 0.0;
${loop(`s += ${gk};`)}
  s = wg_sum(s, rc);
${loop(`O[o_o + k] = ${gk} - exp(${xk}) * s;`)}`;
      break;
    }
    case "rmsNorm":
      main = `  var q = 0.0;
${loop(`let v = ${xk}; q += v * v;`)}
  let rstd = 1.0 / sqrt(wg_sum(q, rc) / f32(${LEN}) + ${EPS});
${write(affineExpr(`${xk} * rstd`))}`;
      break;
  }
  const sg = ctx.features.subgroups;
  const body = `var<workgroup> red: array<f32, ${WG}>;
${sg ? SUBGROUP_REDUCE : TREE_REDUCE(WG)}
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32${sg ? ", @builtin(subgroup_size) ss: u32, @builtin(subgroup_id) sid: u32, @builtin(subgroup_invocation_id) si: u32" : ""}) {
  let wg = wid.y * nwg.x + wid.x;
  if (i32(wg) >= ${R}) { return; }
  let rc = ${sg ? `RowCtx(lid, sid, si, (${WG}u + ss - 1u) / ss)` : "RowCtx(lid)"};
${rowOffset}
  let o_o = i32(wg) * ${LEN};
${main}
}`;
  const bindings: Binding[] = [
    { name: "X", type: storageType(dtype) },
    ...affine.map((a) => ({ name: a.name, type: storageType(a.view.buffer.dtype) })),
    ...(g ? [{ name: "G", type: storageType(g.buffer.dtype) }] : []),
    { name: "O", type: bindingType(outDtype, true), write: true },
  ];
  const key = `${op}${sg ? "+sg" : ""}:${dtype}:${affine.map((a) => `${a.name}=${a.view.buffer.dtype}`).join(",")}${g ? `:G=${g.buffer.dtype}` : ""}:wg${WG}:r${c.shape.length}`;
  ctx.batcher.dispatch({
    key,
    code: () => shader(meta, bindings, body, sg ? ["subgroups"] : []),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ...affine.map((a) => ctx.buffer(a.view).gpu), ...(g ? [ctx.buffer(g).gpu] : [])],
    output: out.gpu,
    workgroups: grid(rows),
  });
  return out;
}

/** Workgroup sum/max by a tree in workgroup memory: log2(WG) barriers. */
export function TREE_REDUCE(WG: number): string {
  const tree = (name: string, combine: string) => `fn ${name}(v: f32, rc: RowCtx) -> f32 {
  let lid = rc.lid;
  red[lid] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (lid < s) { red[lid] = ${combine}; }
    workgroupBarrier();
  }
  let r = red[0];
  workgroupBarrier();
  return r;
}`;
  return `struct RowCtx { lid: u32 }
${tree("wg_sum", "red[lid] + red[lid + s]")}
${tree("wg_max", "max(red[lid], red[lid + s])")}`;
}

/** With subgroups: reduce within each subgroup, then across the few subgroup results: 2 barriers. */
export const SUBGROUP_REDUCE = `struct RowCtx { lid: u32, sid: u32, si: u32, count: u32 }
fn wg_sum(v: f32, rc: RowCtx) -> f32 {
  let s = subgroupAdd(v);
  if (rc.si == 0u) { red[rc.sid] = s; }
  workgroupBarrier();
  var t = 0.0;
  for (var i = 0u; i < rc.count; i++) { t += red[i]; }
  workgroupBarrier();
  return t;
}
fn wg_max(v: f32, rc: RowCtx) -> f32 {
  let s = subgroupMax(v);
  if (rc.si == 0u) { red[rc.sid] = s; }
  workgroupBarrier();
  var t = red[0];
  for (var i = 1u; i < rc.count; i++) { t = max(t, red[i]); }
  workgroupBarrier();
  return t;
}`;
