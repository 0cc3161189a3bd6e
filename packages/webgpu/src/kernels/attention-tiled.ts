import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { grid } from "../layout.js";
import { loadExpr, storageType } from "../storage.js";
import { Meta, shader, type Binding } from "./codegen.js";

const WG = 64;

/** Query rows per workgroup (Br), keys per block (Bc), and accumulators per thread for head dim D. */
export interface TiledShape {
  Br: number;
  Bc: number;
  perThread: number;
}

/** Workgroup arrays, fixed so that one pipeline serves every head dim: 14 KiB of the 16 every device has. */
const Q_TILE = 1024;
const KV_TILE = 2048;
const S_TILE = 512;
const MAX_PER_THREAD = 16;

/**
 * The tile shape for head dim D, or null past D = 512 (the caller falls back). Br is the largest
 * power of two up to 16 with Br * D <= 1024, so each of the 64 / Br threads of a row keeps at
 * most 16 output accumulators; Bc the largest of 32, 16, 8, 4 with Bc * D <= 2048.
 */
export function tiledShape(D: number, storageBytes: number): TiledShape | null {
  if ((Q_TILE + KV_TILE + S_TILE) * 4 > storageBytes || D < 1) return null;
  let Br = 16;
  while (Br > 1 && Br * D > Q_TILE) Br /= 2;
  const Bc = [32, 16, 8, 4].find((bc) => bc * D <= KV_TILE);
  if (Bc === undefined || Br * D > Q_TILE) return null;
  return { Br, Bc, perThread: Math.ceil(D / (WG / Br)) };
}

function f32Bits(v: number): number {
  return new Int32Array(new Float32Array([v]).buffer)[0]!;
}

/**
 * Flash-style attention: a workgroup per (batch, head, block of Br queries) streams over the keys
 * in blocks of Bc, keeping a running max and sum per query (the online softmax) and the output
 * rows in registers, so nothing of size T x S is ever written: the only buffer made is the output.
 * Per key block, with the query tile in workgroup memory:
 *  1. the k block into workgroup memory; 2. the Br x Bc scores (scale, bias, mask) split over
 *  the threads; 3. the v block into the same memory, while each thread takes its row's block max;
 *  4. the row's threads turn scores into probabilities in place; 5. each thread rescales its
 *  accumulators by exp(old max - new max) and adds p v for its head dims (d = lane + k * 64/Br).
 * Tile sizes and D are uniforms and the workgroup arrays have fixed sizes, so one pipeline serves
 * every head dim (and loops stay loops: with constant bounds SwiftShader unrolled them and took
 * 13-26 s to compile each head dim's pipeline). Grouped kv heads and
 * strided q/k/v (head transposes, KV-cache views) are read in place as in the other paths.
 */
export function tiledAttention(
  ctx: KernelContext,
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  shape: TiledShape,
): WebGPUBuffer {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const { Br, Bc, perThread } = shape;
  const P = WG / Br;
  const tiles = Math.ceil(T / Br);
  const out = ctx.alloc(B * H * T * D, "float32");
  const meta = new Meta();
  const TT = meta.push(T);
  const HH = meta.push(H);
  const G = meta.push(H / Hkv);
  const SS = meta.push(S);
  const TILES = meta.push(tiles);
  const NWG = meta.push(B * H * tiles);
  const SCALE = `bitcast<f32>(${meta.push(f32Bits(scale))})`;
  const DD = meta.push(D);
  const BRU = meta.push(Br);
  const PU = meta.push(P);
  const NQ = meta.push(Br * D);
  const NKV = meta.push(Bc * D);
  const NS = meta.push(Br * Bc);
  const BCU = meta.push(Bc);
  const PTU = meta.push(perThread);
  const strides = (view: StridedView) => [meta.push(view.offset), ...view.strides.map((x) => meta.push(x))];
  const [qo, qb, qh, qt, qd] = strides(q);
  const [ko, kb, kh, ks, kd] = strides(k);
  const [vo, vb, vh, vs, vd] = strides(v);
  const m = mask ? strides(mask) : null;
  const bi = bias ? strides(bias) : null;
  const inputs: StridedView[] = [q, k, v];
  const bindings: Binding[] = [
    { name: "Q", type: storageType(q.buffer.dtype) },
    { name: "K", type: storageType(k.buffer.dtype) },
    { name: "V", type: storageType(v.buffer.dtype) },
  ];
  if (mask) {
    inputs.push(mask);
    bindings.push({ name: "M", type: storageType(mask.buffer.dtype) });
  }
  if (bias) {
    inputs.push(bias);
    bindings.push({ name: "Bi", type: storageType(bias.buffer.dtype) });
  }
  bindings.push({ name: "O", type: "f32", write: true });
  // (t, key) in range and allowed by the mask
  const allowed = m
    ? ` && ${loadExpr(mask!.buffer.dtype, `M[${m[0]} + b * ${m[1]} + h * ${m[2]} + t * ${m[3]} + key * ${m[4]}]`)} != 0`
    : "";
  const biasTerm = bi
    ? ` + ${loadExpr(bias!.buffer.dtype, `Bi[${bi[0]} + b * ${bi[1]} + h * ${bi[2]} + t * ${bi[3]} + key * ${bi[4]}]`)}`
    : "";
  const body = `var<workgroup> qs: array<f32, ${Q_TILE}>;
var<workgroup> kv: array<f32, ${KV_TILE}>;
var<workgroup> sc: array<f32, ${S_TILE}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>,
        @builtin(local_invocation_index) lid: u32) {
  let wg = i32(wid.y * nwg.x + wid.x);
  // every thread of a workgroup returns together or not at all (barriers below)
  if (wg >= ${NWG}) { return; }
  let tile = wg % ${TILES};
  let h = (wg / ${TILES}) % ${HH};
  let b = wg / (${TILES} * ${HH});
  let hk = h / ${G};
  let tid = i32(lid);
  let row = tid / ${PU};
  let lane = tid % ${PU};
  let t0 = tile * ${BRU};
  let oq = ${qo} + b * ${qb} + h * ${qh};
  let ok = ${ko} + b * ${kb} + hk * ${kh};
  let ov = ${vo} + b * ${vb} + hk * ${vh};
  for (var e = tid; e < ${NQ}; e += ${WG}) {
    let t = t0 + e / ${DD};
    var x = 0.0;
    if (t < ${TT}) { x = ${loadExpr(q.buffer.dtype, `Q[oq + t * ${qt} + (e % ${DD}) * ${qd}]`)}; }
    qs[e] = x;
  }
  var mx = neg_inf();
  var l = 0.0;
  var acc: array<f32, ${MAX_PER_THREAD}>;
  for (var c = 0; c < ${PTU}; c++) { acc[c] = 0.0; }
  for (var k0 = 0; k0 < ${SS}; k0 += ${BCU}) {
    workgroupBarrier();
    for (var e = tid; e < ${NKV}; e += ${WG}) {
      let key = k0 + e / ${DD};
      var x = 0.0;
      if (key < ${SS}) { x = ${loadExpr(k.buffer.dtype, `K[ok + key * ${ks} + (e % ${DD}) * ${kd}]`)}; }
      kv[e] = x;
    }
    workgroupBarrier();
    for (var e = tid; e < ${NS}; e += ${WG}) {
      let i = e / ${BCU};
      let j = e % ${BCU};
      let t = t0 + i;
      let key = k0 + j;
      var s = neg_inf();
      if (t < ${TT} && key < ${SS}${allowed}) {
        var dot = 0.0;
        for (var d = 0; d < ${DD}; d++) { dot += qs[i * ${DD} + d] * kv[j * ${DD} + d]; }
        s = dot * ${SCALE}${biasTerm};
      }
      sc[e] = s;
    }
    workgroupBarrier();
    for (var e = tid; e < ${NKV}; e += ${WG}) {
      let key = k0 + e / ${DD};
      var x = 0.0;
      if (key < ${SS}) { x = ${loadExpr(v.buffer.dtype, `V[ov + key * ${vs} + (e % ${DD}) * ${vd}]`)}; }
      kv[e] = x;
    }
    var bm = neg_inf();
    for (var j = 0; j < ${BCU}; j++) { bm = max(bm, sc[row * ${BCU} + j]); }
    let mNew = max(mx, bm);
    // exp(-inf - finite) would do, but WGSL's exp is loose at the edges: say it exactly
    let alpha = select(exp(mx - mNew), 0.0, mx == neg_inf());
    workgroupBarrier();
    for (var j = lane; j < ${BCU}; j += ${PU}) {
      let s = sc[row * ${BCU} + j];
      sc[row * ${BCU} + j] = select(exp(s - mNew), 0.0, s == neg_inf());
    }
    workgroupBarrier();
    var bl = 0.0;
    for (var c = 0; c < ${PTU}; c++) { acc[c] *= alpha; }
    for (var j = 0; j < ${BCU}; j++) {
      let p = sc[row * ${BCU} + j];
      bl += p;
      for (var c = 0; c < ${PTU}; c++) {
        let d = lane + c * ${PU};
        if (d < ${DD}) { acc[c] += p * kv[j * ${DD} + d]; }
      }
    }
    l = l * alpha + bl;
    mx = mNew;
  }
  let t = t0 + row;
  if (t < ${TT}) {
    // every key masked: no mass, zeros (as softmax gives), never NaN
    let inv = select(1.0 / l, 0.0, l == 0.0);
    let oo = ((b * ${HH} + h) * ${TT} + t) * ${DD};
    for (var c = 0; c < ${PTU}; c++) {
      let d = lane + c * ${PU};
      if (d < ${DD}) { O[oo + d] = acc[c] * inv; }
    }
  }
}`;
  const dtypes = [...inputs.map((x) => x.buffer.dtype), mask ? "m" : "-", bias ? "b" : "-"].join(",");
  ctx.batcher.dispatch({
    key: `attention-tiled:${dtypes}`,
    code: () => shader(meta, bindings, body),
    uniforms: meta.data(),
    inputs: inputs.map((x) => ctx.buffer(x).gpu),
    output: out.gpu,
    workgroups: grid(B * H * tiles),
  });
  return out;
}
