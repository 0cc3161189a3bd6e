import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { coalesce, grid, sizeOf } from "../layout.js";
import { WebGPUKernelError } from "../errors.js";
import { bindingType, bytesFor, computeType, loadExpr, storageType, storeExpr, storeStatement } from "../storage.js";
import { bKey, blockHelpers, loadB as loadStored, tableBindings, tableInputs } from "./stored.js";
import { Meta, offsets, shader } from "./codegen.js";
import { matmulVec4, VEC4_LARGE, VEC4_SMALL, vec4Layout, type Vec4TileConfig } from "./matmul-vec4.js";

/** A register-blocked tile shape: the workgroup computes BM x BN, each thread TM x TN. */
export interface TileConfig {
  BM: number;
  BN: number;
  BK: number;
  TM: number;
  TN: number;
}

export const TILE_SMALL: TileConfig = { BM: 64, BN: 64, BK: 16, TM: 4, TN: 4 };
export const TILE_LARGE: TileConfig = { BM: 128, BN: 128, BK: 8, TM: 8, TN: 8 };

/** Rows at or below this go to the matrix-vector kernel (decoding one token is M = 1). */
export const GEMV_MAX_ROWS = 4;

/**
 * Problems below this many multiply-adds use one thread per output: tiles would leave most
 * threads idle, and the tiled kernel takes seconds to compile on software adapters.
 */
export const SMALL_MATMUL_MACS = 1 << 22;

interface MatmulProblem {
  M: number;
  N: number;
  K: number;
  batch: number;
  meta: Meta;
  /** WGSL computing o_a, o_b (batch offsets) from batch index `bz`. */
  batchCode: string;
  batchRank: number;
  sAm: number;
  sAk: number;
  sBk: number;
  sBn: number;
}

function problem(a: StridedView, b: StridedView): MatmulProblem {
  const r = a.shape.length;
  const M = a.shape[r - 2]!;
  const K = a.shape[r - 1]!;
  const N = b.shape[r - 1]!;
  const batchShape = a.shape.slice(0, r - 2);
  const c = coalesce(batchShape, [a.strides.slice(0, r - 2), b.strides.slice(0, r - 2)]);
  // Pad to two batch dims: one shader serves no batch, [batch] and [batch, heads].
  while (c.shape.length < 2) {
    c.shape.unshift(1);
    c.strides.forEach((s) => s.unshift(0));
  }
  const meta = new Meta();
  const batchCode = offsets(
    meta,
    "bz",
    c.shape,
    [
      { name: "a", strides: c.strides[0]!, offset: a.offset },
      { name: "b", strides: c.strides[1]!, offset: b.offset },
    ],
    "B",
  );
  return {
    M,
    N,
    K,
    batch: sizeOf(batchShape),
    meta,
    batchCode,
    batchRank: c.shape.length,
    sAm: a.strides[r - 2]!,
    sAk: a.strides[r - 1]!,
    sBk: b.strides[r - 2]!,
    sBn: b.strides[r - 1]!,
  };
}

/**
 * Chooses the kernel: matrix-vector for a few rows, one thread per output for small problems, the
 * vec4 tiled kernel when both operands are row-major and whole tiles, else the scalar tiled kernel
 * (large tiles when it pays). `tile` forces a kernel (tests, benchmarks).
 */
export function matmul(ctx: KernelContext, a: StridedView, b: StridedView, tile?: TileConfig | Vec4TileConfig): WebGPUBuffer {
  const p = problem(a, b);
  const out = ctx.alloc(p.batch * p.M * p.N, a.buffer.dtype);
  if (p.batch * p.M * p.N === 0) return out;
  if (p.K === 0) {
    ctx.batcher.clear(out.gpu, bytesFor(a.buffer.dtype, p.batch * p.M * p.N));
    return out;
  }
  if (tile && "TN4" in tile) {
    const v = vec4Layout(a, b, tile);
    if (!v)
      throw new WebGPUKernelError(
        `webgpu matmul: the vec4 kernel needs row-major float32 operands of whole ${tile.BM}x${tile.BN}x${tile.BK} tiles, found a [${a.shape}] ${a.buffer.dtype} and b [${b.shape}]`,
      );
    matmulVec4(ctx, a, b, out, v, tile);
    return out;
  }
  if (tile) {
    tiled(ctx, a, b, out, p, tile);
    return out;
  }
  const large = p.M >= 1024 && p.N >= 1024;
  const vec4 = large ? (vec4Layout(a, b, VEC4_LARGE) ?? null) : null;
  const vec4Small = vec4 ? null : vec4Layout(a, b, VEC4_SMALL);
  if (p.M <= GEMV_MAX_ROWS) gemv(ctx, a, b, out, p);
  else if (p.M * p.N * p.K < SMALL_MATMUL_MACS) simple(ctx, a, b, out, p);
  else if (vec4) matmulVec4(ctx, a, b, out, vec4, VEC4_LARGE);
  else if (vec4Small) matmulVec4(ctx, a, b, out, vec4Small, VEC4_SMALL);
  else tiled(ctx, a, b, out, p, large ? TILE_LARGE : TILE_SMALL);
  return out;
}

function tiled(ctx: KernelContext, a: StridedView, b: StridedView, out: WebGPUBuffer, p: MatmulProblem, cfg: TileConfig): void {
  const { BM, BN, BK, TM, TN } = cfg;
  const TX = BN / TN;
  const TY = BM / TM;
  const WG = TX * TY;
  const dtype = a.buffer.dtype;
  const bDtype = b.buffer.dtype;
  const t = computeType(dtype);
  const zero = t === "f32" ? "0.0" : "0";
  const { meta } = p;
  const [M, N, K] = [meta.push(p.M), meta.push(p.N), meta.push(p.K)];
  const [sAm, sAk, sBk, sBn] = [meta.push(p.sAm), meta.push(p.sAk), meta.push(p.sBk), meta.push(p.sBn)];
  // Bounds checks vanish when the problem is a whole number of tiles.
  const aligned = p.M % BM === 0 && p.N % BN === 0 && p.K % BK === 0;
  // Which operand index runs along adjacent threads when loading a tile: the contiguous one.
  const aAlongK = p.sAk === 1 || p.sAm !== 1;
  const bAlongN = p.sBn === 1 || p.sBk !== 1;
  const loadA = (mm: string, kk: string) => {
    const v = loadExpr(dtype, `A[o_a + (m0 + ${mm}) * ${sAm} + (k0 + ${kk}) * ${sAk}]`);
    return aligned ? v : `select(${zero}, ${v}, m0 + ${mm} < ${M} && k0 + ${kk} < ${K})`;
  };
  const loadB = (kk: string, nn: string) => {
    const v = loadStored(bDtype, `B[o_b + (k0 + ${kk}) * ${sBk} + (n0 + ${nn}) * ${sBn}]`);
    return aligned ? v : `select(${zero}, ${v}, k0 + ${kk} < ${K} && n0 + ${nn} < ${N})`;
  };
  const lines: string[] = [];
  for (let e = 0; e < (BM * BK) / WG; e++) {
    const idx = `(i32(lid) + ${e * WG})`;
    const [mm, kk] = aAlongK ? [`(${idx} / ${BK})`, `(${idx} % ${BK})`] : [`(${idx} % ${BM})`, `(${idx} / ${BM})`];
    lines.push(`    As[${kk} * ${BM} + ${mm}] = ${loadA(mm, kk)};`);
  }
  for (let e = 0; e < (BK * BN) / WG; e++) {
    const idx = `(i32(lid) + ${e * WG})`;
    const [kk, nn] = bAlongN ? [`(${idx} / ${BN})`, `(${idx} % ${BN})`] : [`(${idx} % ${BK})`, `(${idx} / ${BK})`];
    lines.push(`    Bs[${kk} * ${BN} + ${nn}] = ${loadB(kk, nn)};`);
  }
  const fmas: string[] = [];
  for (let i = 0; i < TM; i++) fmas.push(`      let a${i} = As[kk * ${BM} + ty + ${i * TY}];`);
  for (let j = 0; j < TN; j++) fmas.push(`      let b${j} = Bs[kk * ${BN} + tx + ${j * TX}];`);
  for (let i = 0; i < TM; i++)
    for (let j = 0; j < TN; j++)
      fmas.push(t === "f32" ? `      acc${i}_${j} = fma(a${i}, b${j}, acc${i}_${j});` : `      acc${i}_${j} += a${i} * b${j};`);
  const accs: string[] = [];
  const stores: string[] = [];
  for (let i = 0; i < TM; i++)
    for (let j = 0; j < TN; j++) {
      accs.push(`  var acc${i}_${j}: ${t} = ${zero};`);
      const m = `m0 + ty + ${i * TY}`;
      const n = `n0 + tx + ${j * TX}`;
      const st = storeStatement(dtype, "O", `o_o + (${m}) * ${N} + ${n}`, storeExpr(dtype, `acc${i}_${j}`));
      stores.push(aligned ? `  ${st}` : `  if (${m} < ${M} && ${n} < ${N}) { ${st} }`);
    }
  const body = `${blockHelpers(bDtype)}
var<workgroup> As: array<${t}, ${BM * BK}>;
var<workgroup> Bs: array<${t}, ${BK * BN}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bz = wid.z;
${p.batchCode}
  let o_o = i32(bz) * ${M} * ${N};
  let m0 = i32(wid.y) * ${BM};
  let n0 = i32(wid.x) * ${BN};
  let tx = i32(lid) % ${TX};
  let ty = i32(lid) / ${TX};
${accs.join("\n")}
  for (var k0 = 0; k0 < ${K}; k0 += ${BK}) {
${lines.join("\n")}
    workgroupBarrier();
    for (var kk = 0; kk < ${BK}; kk++) {
${fmas.join("\n")}
    }
    workgroupBarrier();
  }
${stores.join("\n")}
}`;
  const key = `matmul:${dtype}${bKey(bDtype, dtype)}:${BM}x${BN}x${BK}/${TM}x${TN}:${aligned ? "al" : "un"}:${aAlongK ? "ak" : "am"}${bAlongN ? "bn" : "bk"}:b${p.batchRank}`;
  ctx.batcher.dispatch({
    key,
    code: () =>
      shader(
        meta,
        [
          { name: "A", type: storageType(dtype) },
          { name: "B", type: storageType(bDtype) },
          ...tableBindings(bDtype),
          { name: "O", type: bindingType(dtype, true), write: true },
        ],
        body,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(a).gpu, ctx.buffer(b).gpu, ...tableInputs(ctx, bDtype)],
    output: out.gpu,
    workgroups: [Math.ceil(p.N / BN), Math.ceil(p.M / BM), p.batch],
  });
}

/**
 * Few rows (decoding): each workgroup owns COLS output columns; SPLIT threads share each column's
 * K loop and add up in workgroup memory. Adjacent threads walk B's contiguous axis, so weights
 * stored [K, N] and weights used transposed ([N, K] viewed as [K, N]) both read coalesced.
 */
function gemv(ctx: KernelContext, a: StridedView, b: StridedView, out: WebGPUBuffer, p: MatmulProblem): void {
  const alongN = p.sBn === 1 && p.sBk !== 1;
  const COLS = alongN ? 32 : 8;
  const SPLIT = 256 / COLS;
  const dtype = a.buffer.dtype;
  const bDtype = b.buffer.dtype;
  const t = computeType(dtype);
  const zero = t === "f32" ? "0.0" : "0";
  const { meta } = p;
  const [M, N, K] = [meta.push(p.M), meta.push(p.N), meta.push(p.K)];
  const [sAm, sAk, sBk, sBn] = [meta.push(p.sAm), meta.push(p.sAk), meta.push(p.sBk), meta.push(p.sBn)];
  const [col, slice] = alongN ? [`i32(lid) % ${COLS}`, `i32(lid) / ${COLS}`] : [`i32(lid) / ${SPLIT}`, `i32(lid) % ${SPLIT}`];
  const body = `${blockHelpers(bDtype)}
var<workgroup> sh: array<${t}, 256>;
@compute @workgroup_size(256)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bz = wid.z;
${p.batchCode}
  let o_o = i32(bz) * ${M} * ${N};
  let c = ${col};
  let s = ${slice};
  let n = i32(wid.x) * ${COLS} + c;
  let nn = min(n, ${N} - 1);
  for (var m = 0; m < ${M}; m++) {
    var acc: ${t} = ${zero};
    for (var k = s; k < ${K}; k += ${SPLIT}) {
      acc += ${loadExpr(dtype, `A[o_a + m * ${sAm} + k * ${sAk}]`)} * ${loadStored(bDtype, `B[o_b + k * ${sBk} + nn * ${sBn}]`)};
    }
    sh[lid] = acc;
    workgroupBarrier();
    for (var w = ${SPLIT / 2}; w > 0; w = w >> 1u) {
      if (s < w) { sh[lid] = sh[lid] + sh[lid + ${alongN ? `u32(w * ${COLS})` : "u32(w)"}]; }
      workgroupBarrier();
    }
    if (s == 0 && n < ${N}) { ${storeStatement(dtype, "O", `o_o + m * ${N} + n`, storeExpr(dtype, "sh[lid]"))} }
    workgroupBarrier();
  }
}`;
  ctx.batcher.dispatch({
    key: `gemv:${dtype}${bKey(bDtype, dtype)}:${alongN ? "n" : "k"}:b${p.batchRank}`,
    code: () =>
      shader(
        meta,
        [
          { name: "A", type: storageType(dtype) },
          { name: "B", type: storageType(bDtype) },
          ...tableBindings(bDtype),
          { name: "O", type: bindingType(dtype, true), write: true },
        ],
        body,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(a).gpu, ctx.buffer(b).gpu, ...tableInputs(ctx, bDtype)],
    output: out.gpu,
    workgroups: [Math.ceil(p.N / COLS), 1, p.batch],
  });
}

/** One thread per output element, K in a loop: small problems (see SMALL_MATMUL_MACS). */
function simple(ctx: KernelContext, a: StridedView, b: StridedView, out: WebGPUBuffer, p: MatmulProblem): void {
  const dtype = a.buffer.dtype;
  const bDtype = b.buffer.dtype;
  const t = computeType(dtype);
  const { meta } = p;
  const [M, N, K] = [meta.push(p.M), meta.push(p.N), meta.push(p.K)];
  const [sAm, sAk, sBk, sBn] = [meta.push(p.sAm), meta.push(p.sAk), meta.push(p.sBk), meta.push(p.sBn)];
  const total = p.batch * p.M * p.N;
  const TOTAL = meta.push(total);
  const body = `${blockHelpers(bDtype)}
@compute @workgroup_size(64)
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let gi = i32((wid.y * nwg.x + wid.x) * 64u + lid);
  if (gi >= ${TOTAL}) { return; }
  let n = gi % ${N};
  let m = (gi / ${N}) % ${M};
  let bz = u32(gi / (${M} * ${N}));
${p.batchCode}
  var acc: ${t} = ${t === "f32" ? "0.0" : "0"};
  for (var k = 0; k < ${K}; k++) {
    acc += ${loadExpr(dtype, `A[o_a + m * ${sAm} + k * ${sAk}]`)} * ${loadStored(bDtype, `B[o_b + k * ${sBk} + n * ${sBn}]`)};
  }
  ${storeStatement(dtype, "O", "gi", storeExpr(dtype, "acc"))}
}`;
  ctx.batcher.dispatch({
    key: `matmul-simple:${dtype}${bKey(bDtype, dtype)}:b${p.batchRank}`,
    code: () =>
      shader(
        meta,
        [
          { name: "A", type: storageType(dtype) },
          { name: "B", type: storageType(bDtype) },
          ...tableBindings(bDtype),
          { name: "O", type: bindingType(dtype, true), write: true },
        ],
        body,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(a).gpu, ctx.buffer(b).gpu, ...tableInputs(ctx, bDtype)],
    output: out.gpu,
    workgroups: grid(Math.ceil(total / 64)),
  });
}
