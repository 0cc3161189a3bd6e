import type { StridedView } from "@llm/tensor";
import type { WebGPUBuffer } from "../gpu-buffer.js";
import type { KernelContext } from "../kernel-context.js";
import { Meta, shader } from "./codegen.js";

/**
 * The fast path for float32 A [M, K] @ B [K, N], both row-major, every size a whole number of
 * tiles and every offset a multiple of 4: operands and output are read and written as vec4 (one
 * 16-byte access per four elements), B's tile sits in workgroup memory as vec4, and each thread
 * keeps TM rows x TN4 vec4 columns of accumulators in registers.
 */
export interface Vec4TileConfig {
  BM: number;
  BN: number;
  BK: number;
  /** Rows per thread. */
  TM: number;
  /** vec4 columns per thread. */
  TN4: number;
}

export const VEC4_LARGE: Vec4TileConfig = { BM: 128, BN: 128, BK: 8, TM: 8, TN4: 2 };
export const VEC4_SMALL: Vec4TileConfig = { BM: 64, BN: 64, BK: 8, TM: 4, TN4: 1 };

export interface Vec4Problem {
  M: number;
  N: number;
  K: number;
  batch: number;
  /** Element offsets of each batch's A and B (multiples of 4). */
  batchOffsets: (bz: number) => [number, number];
}

/** Whether (a, b) can take this path with `cfg`; returns the per-batch layout if so. */
export function vec4Layout(a: StridedView, b: StridedView, cfg: Vec4TileConfig): Vec4Problem | null {
  if (a.buffer.dtype !== "float32" || b.buffer.dtype !== "float32") return null;
  const r = a.shape.length;
  const [M, K, N] = [a.shape[r - 2]!, a.shape[r - 1]!, b.shape[r - 1]!];
  if (M % cfg.BM || N % cfg.BN || K % cfg.BK) return null;
  if (a.strides[r - 1] !== 1 || a.strides[r - 2] !== K || b.strides[r - 1] !== 1 || b.strides[r - 2] !== N) return null;
  const batchShape = a.shape.slice(0, r - 2);
  const batch = batchShape.reduce((x, y) => x * y, 1);
  const offsets = (bz: number): [number, number] => {
    let [oa, ob] = [a.offset, b.offset];
    for (let d = batchShape.length - 1, rem = bz; d >= 0; d--) {
      const c = rem % batchShape[d]!;
      rem = Math.floor(rem / batchShape[d]!);
      oa += c * a.strides[d]!;
      ob += c * b.strides[d]!;
    }
    return [oa, ob];
  };
  // Batches are looked up in a uniform table, so keep them few; all offsets must be vec4-aligned.
  if (batch > 64) return null;
  for (let bz = 0; bz < batch; bz++) {
    const [oa, ob] = offsets(bz);
    if (oa % 4 || ob % 4) return null;
  }
  return { M, N, K, batch, batchOffsets: offsets };
}

export function matmulVec4(
  ctx: KernelContext,
  a: StridedView,
  b: StridedView,
  out: WebGPUBuffer,
  p: Vec4Problem,
  cfg: Vec4TileConfig,
): void {
  const { BM, BN, BK, TM, TN4 } = cfg;
  const TX = BN / 4 / TN4; // threads across a tile's vec4 columns
  const TY = BM / TM;
  const WG = TX * TY;
  const meta = new Meta();
  const M = meta.push(p.M);
  const N4 = meta.push(p.N / 4);
  const K = meta.push(p.K);
  const K4 = meta.push(p.K / 4);
  // Per-batch vec4 offsets, in a table padded to a power of two (one shader per table size).
  const slots = 2 ** Math.ceil(Math.log2(p.batch));
  const base = meta.words.length;
  for (let bz = 0; bz < slots; bz++) {
    const [oa, ob] = bz < p.batch ? p.batchOffsets(bz) : [0, 0];
    meta.push(oa / 4);
    meta.push(ob / 4);
  }
  // vec4 loads per tile, spread over the workgroup (guarded when they do not divide evenly).
  const aTotal = (BM * BK) / 4;
  const bTotal = (BK * BN) / 4;
  const guard = (total: number) => (total % WG === 0 ? "" : `if (i < ${total}) `);
  const lines: string[] = [];
  for (let e = 0; e < Math.ceil(aTotal / WG); e++) {
    // A tile rows are BK/4 vec4 long; adjacent threads take adjacent vec4s of a row.
    lines.push(`    {
      let i = i32(lid) + ${e * WG};
      ${guard(aTotal)}{
      let mm = i / ${BK / 4};
      let k4 = i % ${BK / 4};
      let v = A[oa + (m0 + mm) * ${K4} + k0 / 4 + k4];
      As[(k4 * 4 + 0) * ${BM} + mm] = v.x;
      As[(k4 * 4 + 1) * ${BM} + mm] = v.y;
      As[(k4 * 4 + 2) * ${BM} + mm] = v.z;
      As[(k4 * 4 + 3) * ${BM} + mm] = v.w;
      }
    }`);
  }
  for (let e = 0; e < Math.ceil(bTotal / WG); e++) {
    lines.push(`    {
      let i = i32(lid) + ${e * WG};
      ${guard(bTotal)}{
      let kk = i / ${BN / 4};
      let n4 = i % ${BN / 4};
      Bs[kk * ${BN / 4} + n4] = B[ob + (k0 + kk) * ${N4} + n0 / 4 + n4];
      }
    }`);
  }
  const accs: string[] = [];
  const fmas: string[] = [];
  const stores: string[] = [];
  for (let j = 0; j < TN4; j++) fmas.push(`      let b${j} = Bs[kk * ${BN / 4} + tx + ${j * TX}];`);
  for (let i = 0; i < TM; i++) {
    fmas.push(`      let a${i} = As[kk * ${BM} + ty + ${i * TY}];`);
    for (let j = 0; j < TN4; j++) {
      accs.push(`  var acc${i}_${j} = vec4<f32>(0.0);`);
      fmas.push(`      acc${i}_${j} = fma(vec4<f32>(a${i}), b${j}, acc${i}_${j});`);
      stores.push(`  O[oo + (m0 + ty + ${i * TY}) * ${N4} + n0 / 4 + tx + ${j * TX}] = acc${i}_${j};`);
    }
  }
  const body = `var<workgroup> As: array<f32, ${BM * BK}>;
var<workgroup> Bs: array<vec4<f32>, ${(BK * BN) / 4}>;
@compute @workgroup_size(${WG})
fn main(@builtin(workgroup_id) wid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
  let bz = i32(wid.z);
  let oa = u(u32(${base} + 2 * bz));
  let ob = u(u32(${base} + 2 * bz + 1));
  let oo = bz * ${M} * ${N4};
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
  ctx.batcher.dispatch({
    key: `matmul-vec4:${BM}x${BN}x${BK}/${TM}x${TN4 * 4}:t${slots}`,
    code: () =>
      shader(
        meta,
        [
          { name: "A", type: "vec4<f32>" },
          { name: "B", type: "vec4<f32>" },
          { name: "O", type: "vec4<f32>", write: true },
        ],
        body,
      ),
    uniforms: meta.data(),
    inputs: [ctx.buffer(a).gpu, ctx.buffer(b).gpu],
    output: out.gpu,
    workgroups: [p.N / BN, p.M / BM, p.batch],
  });
}
