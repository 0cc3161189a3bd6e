import type { StridedView } from "../../backend.js";
import type { Arena } from "../memory/arena.js";
import { GRAD_DESC, scratchFloats } from "../wasm/attention_blocks_module.js";
import { GROUP_QUERIES, groupScratchFloats } from "../wasm/attention_group_module.js";
import { DESC } from "../wasm/attention_module.js";
import { kernel } from "./modules.js";
import { Operands } from "./operands.js";
import { activeRuntime, splitRange } from "./runtime.js";
import type { CpuRuntime } from "./runtime.js";

const ATTENTION = kernel("attention", "attention");
const ATTENTION_F16 = kernel("attention", "attention_f16");
const ATTENTION_GROUP = kernel("attention", "attention_group");
const ATTENTION_GROUP_F16 = kernel("attention", "attention_group_f16");

/** Queries a head from which the forward runs the block kernel (fewer: the row kernel, no transpose of k). */
const BLOCK_KERNEL_QUERIES = 16;

/**
 * Fused attention on the resident kernel: q [B, H, T, D], k and v [B, Hkv, S, D] read where they
 * are (any strides, contiguous along D; float32, or both float16 under 16 queries a head: the row
 * kernel's attention_f16), the mask (bool) and bias (float32) as
 * strided [B, H, T, S] views, out contiguous [B, H, T, D] (made in k's memory). Under 16 queries a
 * head (decoding), the row kernel (attention_module.ts) with query rows split over threads; from 16
 * on, the block kernel (attention_blocks_module.ts) with (batch, head) units split over threads.
 * `rounding`: see AttentionRounding. Returns null where k is not resident, q, k or v is not contiguous along D, or
 * strides are negative, or the dtypes are others: the caller then runs its own.
 */
export function residentAttention(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  data: (view: StridedView) => Float32Array | Uint8Array,
  rounding: AttentionRounding = "none",
): Float32Array | null {
  const rt = activeRuntime();
  if (rt === null) return null;
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  // float16 keys and values (a float16 KV cache): the row kernel reads them as stored, under 16
  // queries a head; the caller widens them for everything else
  const halves = kvDType(k, v);
  if (halves === null || (halves === "float16" && T >= BLOCK_KERNEL_QUERIES)) return null;
  // in ggml's numerics the row kernel rounds the query and the weights over a float16 cache
  const roundHalf = rounding === "ggml" && halves === "float16";
  // many queries a head (prefill, training): the block kernel, whose products hold two rows of
  // the output in registers, after one transpose of k per head; it rounds the weights where asked
  if (T >= BLOCK_KERNEL_QUERIES) return runBlocks(q, k, v, mask, bias, scale, null, data, rounding === "weights")?.[0] ?? null;
  if (rounding === "weights") return null;
  const home = kernelHome(rt, q, k, v, null, mask, bias, data);
  if (home === null) return null;
  const ops = new Operands(rt.heap, home);
  const result = ops.result(B * H * T * D);
  if (result === null) return null;
  const out = result.array;
  let ok = false;
  try {
    const desc = descriptor(ops, { q, k, v, mask, bias }, { H, Hkv, T, S, D }, scale, result.addr, undefined, roundHalf);
    if (desc === null) return null;
    const rows = B * H * T;
    const grouped = groupsKernel({ H, Hkv, D }, mask, bias);
    // the group kernel's units are (batch, key/value head, query) groups of H / Hkv rows
    const units = grouped ? B * Hkv * T : rows;
    const parts = splitRange(units, partsFor(rt, rows, S, D), 1);
    const args: number[][] = [];
    for (const [r0, r1] of parts) {
      // the scores (padded to whole vectors), then the rounded query where the kernel rounds it
      const scores = ops.scratch(grouped ? groupScratchFloats(S, D) : S + 8 + (roundHalf ? D : 0));
      if (scores === null) return null;
      args.push([desc.byteOffset, r0, r1, scores.byteOffset]);
    }
    const half = halves === "float16";
    rt.call(grouped ? (half ? ATTENTION_GROUP_F16 : ATTENTION_GROUP) : half ? ATTENTION_F16 : ATTENTION, home, args);
    ok = true;
    return out;
  } finally {
    ops.done(ok);
    if (!ok) rt.heap.free(out);
  }
}

/**
 * Whether a decoding step takes the group kernel (attention_group_module.ts: each key and value
 * row read once for four of the query heads sharing it): grouped-query heads four or more to a
 * key/value head, D a multiple of 8, no bias, a mask the same for every head. Its rows are the row
 * kernel's bit for bit, so this only picks the faster of two equal kernels.
 */
function groupsKernel(size: { H: number; Hkv: number; D: number }, mask: StridedView | null, bias: StridedView | null): boolean {
  if (bias !== null || size.D % 8 !== 0 || size.H / size.Hkv < GROUP_QUERIES) return false;
  return mask === null || mask.strides[1] === 0;
}

/**
 * Rounding for llama.cpp's products with a float16 KV cache: "ggml" (the CPU backend's ggml
 * numerics) has the row kernel round the query and the weights over float16 k and v; "weights"
 * (k and v already widened to float32 and the query rounded by the caller) has the block kernel
 * round the weights, and declines under 16 queries a head.
 */
export type AttentionRounding = "none" | "ggml" | "weights";

/** The one dtype of k and v the kernels read (float32, or float16 for the row kernel); null for any other. */
function kvDType(k: StridedView, v: StridedView): "float32" | "float16" | null {
  const dtype = k.buffer.dtype;
  return dtype === v.buffer.dtype && (dtype === "float32" || dtype === "float16") ? dtype : null;
}

/**
 * The memory the attention kernels work in, k's (a model spread over several: operands elsewhere
 * are copied there), where the operands suit them: nothing empty, q, k, v (and g) contiguous
 * along D, no negative strides. Null otherwise: the caller runs its own.
 */
function kernelHome(
  rt: CpuRuntime,
  q: StridedView,
  k: StridedView,
  v: StridedView,
  g: StridedView | null,
  mask: StridedView | null,
  bias: StridedView | null,
  data: (view: StridedView) => Float32Array | Uint8Array,
): Arena | null {
  const [B, H, T, D] = q.shape as [number, number, number, number];
  if (D === 0 || k.shape[2] === 0 || B * H * T === 0) return null;
  for (const x of [q, k, v, g]) if (x && x.strides[3] !== 1 && D > 1) return null;
  for (const x of [q, k, v, g, mask, bias]) if (x?.strides.some((st) => st < 0)) return null;
  return rt.heap.locate(data(k));
}

/**
 * Parts for the forward over `rows` query rows of S keys: as a matrix-vector product's (at least
 * 4M multiply-adds a part). A decoding step's attention (GPT-2-small's 12 heads over 150 keys:
 * 0.2M) woke a worker twelve times a token for a few microseconds of work each, and two threads
 * then decoded at 33-34 tok/s in two runs of three against one thread's 39-44.
 */
function partsFor(rt: CpuRuntime, rows: number, S: number, D: number): number {
  return rt.partsForMatvec(rows * S * D * 2, rows);
}

const ATTENTION_GRAD = kernel("attention_blocks", "attention_grad");
const ATTENTION_BLOCKS = kernel("attention_blocks", "attention_blocks");

/** dq, dk and dv of fused attention, contiguous float32 ([B, H, T, D], [B, Hkv, S, D] twice). */
export interface AttentionGradArrays {
  dq: Float32Array;
  dk: Float32Array;
  dv: Float32Array;
}

/**
 * The backward of residentAttention on the resident kernel (../wasm/attention_blocks_module.ts):
 * from q, k, v, the mask and bias as the forward read them and g, the output's gradient
 * ([B, H, T, D], any strides, contiguous along D), dq, dk and dv (made in k's memory); (batch, kv
 * head) entries split over threads, each entry's sums in one order whoever computes it. Null
 * where the forward's kernel would decline too: the caller then composes the backward.
 */
export function residentAttentionGrad(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  g: StridedView,
  data: (view: StridedView) => Float32Array | Uint8Array,
): AttentionGradArrays | null {
  const r = runBlocks(q, k, v, mask, bias, scale, g, data);
  return r && r.length === 3 ? { dq: r[0]!, dk: r[1]!, dv: r[2]! } : null;
}

/**
 * The block kernels: with g, the backward (dq, dk, dv over (batch, kv head) entries); without, the
 * forward's output over (batch, query head) units. Null where the kernel declines.
 */
function runBlocks(
  q: StridedView,
  k: StridedView,
  v: StridedView,
  mask: StridedView | null,
  bias: StridedView | null,
  scale: number,
  g: StridedView | null,
  data: (view: StridedView) => Float32Array | Uint8Array,
  roundWeights = false,
): Float32Array[] | null {
  const rt = activeRuntime();
  if (rt === null || kvDType(k, v) !== "float32") return null;
  const [B, H, T, D] = q.shape as [number, number, number, number];
  const [, Hkv, S] = k.shape as [number, number, number, number];
  const home = kernelHome(rt, q, k, v, g, mask, bias, data);
  if (home === null) return null;
  const ops = new Operands(rt.heap, home);
  const made: Float32Array[] = [];
  let ok = false;
  try {
    const sizes = g ? [B * H * T * D, B * Hkv * S * D, B * Hkv * S * D] : [B * H * T * D];
    const results = sizes.map((n) => ops.result(n));
    for (const r of results) if (r !== null) made.push(r.array);
    if (made.length < sizes.length) return null;
    const addrOf = (i: number): number => (g ? results[i]!.addr : 0);
    const desc = descriptor(
      ops,
      { q, k, v, mask, bias },
      { H, Hkv, T, S, D },
      scale,
      g ? 0 : results[0]!.addr,
      {
        g,
        dq: addrOf(0),
        dk: addrOf(1),
        dv: addrOf(2),
      },
      roundWeights,
    );
    if (desc === null) return null;
    const units = g ? B * Hkv : B * H;
    const parts = splitRange(units, rt.partsFor(B * H * T * S * D * (g ? 5 : 2), units), 1);
    const args: number[][] = [];
    for (const [e0, e1] of parts) {
      const scratch = ops.scratch(scratchFloats(S, D));
      if (scratch === null) return null;
      args.push([desc.byteOffset, e0, e1, scratch.byteOffset]);
    }
    rt.call(g ? ATTENTION_GRAD : ATTENTION_BLOCKS, home, args);
    ok = true;
    return made;
  } finally {
    ops.done(ok);
    if (!ok) for (const m of made) rt.heap.free(m);
  }
}

/**
 * The descriptor the attention kernels read: DESC's fields (operand addresses in `ops`' memory,
 * copied there when elsewhere, and byte strides; the sizes; the scale; the output), then with
 * `grad` GRAD_DESC's (g and where dq, dk, dv go), written into scratch. Null when scratch cannot
 * be had.
 */
function descriptor(
  ops: Operands,
  x: { q: StridedView; k: StridedView; v: StridedView; mask: StridedView | null; bias: StridedView | null },
  size: { H: number; Hkv: number; T: number; S: number; D: number },
  scale: number,
  out: number,
  grad?: { g: StridedView | null; dq: number; dk: number; dv: number },
  roundHalf = false,
): Float32Array | null {
  const names = grad ? GRAD_DESC : DESC;
  const desc = ops.scratch(names.length);
  if (desc === null) return null;
  const at = new Map<StridedView, number>();
  for (const view of [x.q, x.k, x.v, x.mask, x.bias, grad?.g ?? null]) {
    if (view === null) continue;
    const a = ops.view(view);
    if (a === null) return null;
    at.set(view, a);
  }
  const addr = (view: StridedView | null): number => (view ? at.get(view)! : 0);
  const st = (view: StridedView | null, i: number, bytes: number): number => (view ? view.strides[i]! * bytes : 0);
  const { q, k, v, mask, bias } = x;
  const kvBytes = k.buffer.dtype === "float16" ? 2 : 4;
  const g = grad?.g ?? null;
  const values: Record<(typeof GRAD_DESC)[number], number> = {
    q: addr(q),
    qb: st(q, 0, 4),
    qh: st(q, 1, 4),
    qt: st(q, 2, 4),
    k: addr(k),
    kb: st(k, 0, kvBytes),
    kh: st(k, 1, kvBytes),
    ks: st(k, 2, kvBytes),
    v: addr(v),
    vb: st(v, 0, kvBytes),
    vh: st(v, 1, kvBytes),
    vs: st(v, 2, kvBytes),
    out,
    mask: addr(mask),
    mb: st(mask, 0, 1),
    mh: st(mask, 1, 1),
    mt: st(mask, 2, 1),
    ms: st(mask, 3, 1),
    bias: addr(bias),
    bb: st(bias, 0, 4),
    bh: st(bias, 1, 4),
    bt: st(bias, 2, 4),
    bs: st(bias, 3, 4),
    H: size.H,
    G: size.H / size.Hkv,
    T: size.T,
    S: size.S,
    D: size.D,
    scale: 0,
    roundHalf: roundHalf ? 1 : 0,
    g: addr(g),
    gb: st(g, 0, 4),
    gh: st(g, 1, 4),
    gt: st(g, 2, 4),
    dq: grad?.dq ?? 0,
    dk: grad?.dk ?? 0,
    dv: grad?.dv ?? 0,
  };
  const words = new Int32Array(desc.buffer, desc.byteOffset, names.length);
  names.forEach((name, i) => {
    words[i] = values[name];
  });
  desc[names.indexOf("scale")] = scale;
  return desc;
}
