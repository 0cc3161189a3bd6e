import type { NormGrads, StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, grid, sizeOf } from "../layout.js";
import { loadExpr, storageType } from "../storage.js";
import { Meta, offsets, shader, type Binding } from "./codegen.js";
import { reduce } from "./reduce.js";
import { SUBGROUP_REDUCE, TREE_REDUCE } from "./rows.js";

/**
 * The backwards of layerNorm and rmsNorm over the last axis (FusedKernels.layerNormGrad and
 * rmsNormGrad), in two dispatches where autograd composes about a dozen full-size ops:
 *  1. a workgroup per row: the row's statistics (mean and rstd, as the forward), the two row sums
 *     dx needs, then dx; the statistics are kept ([rows, 2]) for
 *  2. the weight and bias gradients, sums over rows: a workgroup per 64 columns and a chunk of
 *     rows (adjacent threads read adjacent columns), partial sums per chunk, added up by the
 *     reduce kernel when there is more than one chunk.
 */
export function normGrad(
  ctx: KernelContext,
  kind: "layerNorm" | "rmsNorm",
  x: StridedView,
  weight: StridedView | null,
  g: StridedView,
  eps: number,
  withBias: boolean,
): NormGrads {
  const r = x.shape.length;
  const L = x.shape[r - 1] ?? 1;
  const size = sizeOf(x.shape);
  const rows = L === 0 ? 0 : size / L;
  const dx = ctx.alloc(size, "float32");
  const wantWeight = weight !== null;
  if (rows === 0 || L === 0) {
    const zeros = (on: boolean) => {
      if (!on) return null;
      const b = ctx.alloc(L, "float32");
      if (L > 0) ctx.batcher.clear(b.gpu, L * 4);
      return b;
    };
    return { dx, dweight: zeros(wantWeight), dbias: zeros(withBias) };
  }
  // The leading dims, walked by row index, for x and g alike.
  const lead = coalesce(x.shape.slice(0, r - 1), [x.strides.slice(0, r - 1), g.strides.slice(0, r - 1)]);
  const stats = ctx.alloc(rows * 2, "float32");
  rowPass(ctx, kind, x, weight, g, eps, lead, rows, L, stats, dx);
  let dweight: WebGPUBuffer | null = null;
  let dbias: WebGPUBuffer | null = null;
  if (wantWeight || withBias) ({ dweight, dbias } = columnSums(ctx, kind, x, g, lead, rows, L, stats, wantWeight, withBias));
  ctx.free(stats);
  return { dx, dweight, dbias };
}

type Lead = ReturnType<typeof coalesce>;

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

function rowPass(
  ctx: KernelContext,
  kind: "layerNorm" | "rmsNorm",
  x: StridedView,
  weight: StridedView | null,
  g: StridedView,
  eps: number,
  lead: Lead,
  rows: number,
  L: number,
  stats: WebGPUBuffer,
  dx: WebGPUBuffer,
): void {
  const r = x.shape.length;
  const WG = L >= 1024 ? 256 : 64;
  const meta = new Meta();
  const R = meta.push(rows);
  const LEN = meta.push(L);
  const SX = meta.push(x.strides[r - 1] ?? 1);
  const SG = meta.push(g.strides[r - 1] ?? 1);
  const EPS = `bitcast<f32>(${meta.push(f32Bits(eps))})`;
  const rowOffset = offsets(meta, "wg", lead.shape, [
    { name: "x", strides: lead.strides[0]!, offset: x.offset },
    { name: "g", strides: lead.strides[1]!, offset: g.offset },
  ]);
  const xk = loadExpr(x.buffer.dtype, `X[o_x + k * ${SX}]`);
  const gk = loadExpr(g.buffer.dtype, `G[o_g + k * ${SG}]`);
  const d = weight
    ? `${gk} * ${loadExpr(weight.buffer.dtype, `W[${meta.push(weight.offset)} + k * ${meta.push(weight.strides[0] ?? 0)}]`)}`
    : gk;
  const loop = (stmt: string) => `  for (var k = i32(lid); k < ${LEN}; k += ${WG}) { ${stmt} }`;
  // dx = rstd (d - mean(d) - xhat mean(d xhat)) for layerNorm; d rstd - x rstd^3 mean(d x) for rmsNorm
  const main =
    kind === "layerNorm"
      ? `  var s = 0.0;
${loop(`s += ${xk};`)}
  let mean = wg_sum(s, rc) / f32(${LEN});
  var q = 0.0;
${loop(`let c = ${xk} - mean; q += c * c;`)}
  let rstd = 1.0 / sqrt(wg_sum(q, rc) / f32(${LEN}) + ${EPS});
  var sd = 0.0;
  var sdx = 0.0;
${loop(`let dk = ${d}; sd += dk; sdx += dk * (${xk} - mean) * rstd;`)}
  let meanD = wg_sum(sd, rc) / f32(${LEN});
  let meanDX = wg_sum(sdx, rc) / f32(${LEN});
${loop(`O[o_o + k] = (${d} - meanD - (${xk} - mean) * rstd * meanDX) * rstd;`)}`
      : `  let mean = 0.0;
  var q = 0.0;
${loop(`let v = ${xk}; q += v * v;`)}
  let rstd = 1.0 / sqrt(wg_sum(q, rc) / f32(${LEN}) + ${EPS});
  var sdx = 0.0;
${loop(`sdx += ${d} * ${xk};`)}
  let c = rstd * rstd * rstd * (wg_sum(sdx, rc) / f32(${LEN}));
${loop(`O[o_o + k] = ${d} * rstd - ${xk} * c;`)}`;
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
  if (lid == 0u) { ST[2 * i32(wg)] = mean; ST[2 * i32(wg) + 1] = rstd; }
}`;
  const bindings: Binding[] = [
    { name: "X", type: storageType(x.buffer.dtype) },
    ...(weight ? [{ name: "W", type: storageType(weight.buffer.dtype) }] : []),
    { name: "G", type: storageType(g.buffer.dtype) },
    // the statistics ride as a writable "input" (the batcher binds inputs in order, then O)
    { name: "ST", type: "f32", write: true },
    { name: "O", type: "f32", write: true },
  ];
  const dtypes = [x.buffer.dtype, weight?.buffer.dtype ?? "-", g.buffer.dtype].join(",");
  ctx.batcher.dispatch({
    key: `${kind}Grad-rows${sg ? "+sg" : ""}:${dtypes}:wg${WG}:r${lead.shape.length}`,
    code: () => shader(meta, bindings, body, sg ? ["subgroups"] : []),
    uniforms: meta.data(),
    inputs: [ctx.buffer(x).gpu, ...(weight ? [ctx.buffer(weight).gpu] : []), ctx.buffer(g).gpu, stats.gpu],
    output: dx.gpu,
    workgroups: grid(rows),
  });
}

const COLS = 64;
const LANES = 4;

function columnSums(
  ctx: KernelContext,
  kind: "layerNorm" | "rmsNorm",
  x: StridedView,
  g: StridedView,
  lead: Lead,
  rows: number,
  L: number,
  stats: WebGPUBuffer,
  wantWeight: boolean,
  withBias: boolean,
): { dweight: WebGPUBuffer | null; dbias: WebGPUBuffer | null } {
  const r = x.shape.length;
  // Enough chunks to fill a GPU, each long enough that its partial sums cost little to add up.
  const rowsPerChunk = Math.max(64, Math.ceil(rows / 256));
  const chunks = Math.ceil(rows / rowsPerChunk);
  const colBlocks = Math.ceil(L / COLS);
  const meta = new Meta();
  const R = meta.push(rows);
  const LEN = meta.push(L);
  const RPC = meta.push(rowsPerChunk);
  const SX = meta.push(x.strides[r - 1] ?? 1);
  const SG = meta.push(g.strides[r - 1] ?? 1);
  const rowOffset = offsets(
    meta,
    "row",
    lead.shape,
    [
      { name: "x", strides: lead.strides[0]!, offset: x.offset },
      { name: "g", strides: lead.strides[1]!, offset: g.offset },
    ],
    "r",
  );
  const xv = loadExpr(x.buffer.dtype, `X[o_x + col * ${SX}]`);
  const gv = loadExpr(g.buffer.dtype, `G[o_g + col * ${SG}]`);
  const xhat = kind === "layerNorm" ? `(${xv} - ST[2 * row]) * ST[2 * row + 1]` : `${xv} * ST[2 * row + 1]`;
  const outputs: { name: string; acc: string }[] = [];
  if (wantWeight) outputs.push({ name: "DW", acc: `gv * ${xhat}` });
  if (withBias) outputs.push({ name: "DB", acc: "gv" });
  const body = `${outputs.map((o) => `var<workgroup> red${o.name}: array<f32, ${COLS * LANES}>;`).join("\n")}
@compute @workgroup_size(${COLS * LANES})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let col = i32(wid.x) * ${COLS} + i32(lid % ${COLS}u);
  let lane = i32(lid / ${COLS}u);
  let chunk = i32(wid.y);
  let end = min(${R}, (chunk + 1) * ${RPC});
${outputs.map((o) => `  var a${o.name} = 0.0;`).join("\n")}
  if (col < ${LEN}) {
    for (var row = chunk * ${RPC} + lane; row < end; row += ${LANES}) {
${rowOffset}
      let gv = ${gv};
${outputs.map((o) => `      a${o.name} += ${o.acc};`).join("\n")}
    }
  }
${outputs.map((o) => `  red${o.name}[lid] = a${o.name};`).join("\n")}
  workgroupBarrier();
  if (lane == 0 && col < ${LEN}) {
${outputs
  .map(
    (o) => `    var t${o.name} = 0.0;
    for (var i = 0u; i < ${LANES}u; i++) { t${o.name} += red${o.name}[lid + i * ${COLS}u]; }
    ${o.name}[chunk * ${LEN} + col] = t${o.name};`,
  )
  .join("\n")}
  }
}`;
  const partial = outputs.map(() => ctx.alloc(chunks * L, "float32"));
  // The bias gradient alone reads neither x nor the statistics (unused bindings are dropped from
  // the pipeline's layout, so they must not be bound).
  const bindings: Binding[] = [
    ...(wantWeight ? [{ name: "X", type: storageType(x.buffer.dtype) }] : []),
    { name: "G", type: storageType(g.buffer.dtype) },
    ...(wantWeight ? [{ name: "ST", type: "f32" }] : []),
    ...outputs.map((o) => ({ name: o.name, type: "f32", write: true })),
  ];
  const inputs = wantWeight ? [ctx.buffer(x).gpu, ctx.buffer(g).gpu, stats.gpu] : [ctx.buffer(g).gpu];
  ctx.batcher.dispatch({
    key: `${kind}Grad-cols:${x.buffer.dtype},${g.buffer.dtype}:${outputs.map((o) => o.name).join("+")}:r${lead.shape.length}`,
    code: () => shader(meta, bindings, body),
    uniforms: meta.data(),
    inputs: [...inputs, ...partial.slice(0, -1).map((p) => p.gpu)],
    output: partial[partial.length - 1]!.gpu,
    workgroups: [colBlocks, chunks, 1],
  });
  const total = (p: WebGPUBuffer | undefined): WebGPUBuffer | null => {
    if (!p) return null;
    if (chunks === 1) return p;
    const sum = reduce(ctx, "sum", { buffer: p, shape: [chunks, L], strides: [L, 1], offset: 0 }, [0]);
    ctx.free(p);
    return sum;
  };
  const dweight = total(wantWeight ? partial[0] : undefined);
  const dbias = total(withBias ? partial[wantWeight ? 1 : 0] : undefined);
  return { dweight, dbias };
}
