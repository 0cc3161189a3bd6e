import { isQuantized, QUANT_BLOCKS, Storage, Tensor, tensor } from "@llm/tensor";
import type { TensorRule } from "./architectures.js";

/** Heads of an attention's projection rows, as the row permutations need them. */
export interface HeadLayout {
  readonly heads: number;
  readonly kvHeads: number;
  readonly headDim: number;
}

/**
 * order[r] = our row that llama.cpp keeps at row r (convert_hf_to_gguf's permutations):
 *  - q / k: rotary pairs interleaved (LLaMA's rotate_half halves -> adjacent pairs), per head;
 *  - qkv_per_head: [head][q|k|v] (BLOOM, GPT-NeoX) -> [q|k|v][head];
 *  - qkv_groups: Falcon's [group][its q heads, k, v] -> all q, all k, all v.
 */
export function rowOrder(kind: NonNullable<TensorRule["rows"]>, h: HeadLayout): Int32Array {
  const { heads, kvHeads, headDim: hd } = h;
  if (kind === "q" || kind === "k") {
    const n = kind === "q" ? heads : kvHeads;
    const order = new Int32Array(n * hd);
    const half = hd / 2;
    for (let head = 0; head < n; head++)
      for (let j = 0; j < half; j++) for (let i = 0; i < 2; i++) order[head * hd + j * 2 + i] = head * hd + i * half + j;
    return order;
  }
  if (kind === "qkv_per_head") {
    const order = new Int32Array(3 * heads * hd);
    for (let t = 0; t < 3; t++)
      for (let head = 0; head < heads; head++) for (let d = 0; d < hd; d++) order[(t * heads + head) * hd + d] = (head * 3 + t) * hd + d;
    return order;
  }
  const perGroup = heads / kvHeads;
  const order = new Int32Array((heads + 2 * kvHeads) * hd);
  for (let g = 0; g < kvHeads; g++) {
    const base = g * (perGroup + 2);
    for (let q = 0; q < perGroup; q++) for (let d = 0; d < hd; d++) order[(g * perGroup + q) * hd + d] = (base + q) * hd + d;
    for (let d = 0; d < hd; d++) {
      order[(heads + g) * hd + d] = (base + perGroup) * hd + d;
      order[(heads + kvHeads + g) * hd + d] = (base + perGroup + 1) * hd + d;
    }
  }
  return order;
}

/** The inverse permutation: inverse[order[r]] = r. */
export function inverseOrder(order: Int32Array): Int32Array {
  const inverse = new Int32Array(order.length);
  for (let r = 0; r < order.length; r++) inverse[order[r]!] = r;
  return inverse;
}

/**
 * t's rows (axis 0) in `order`, in t's own dtype: quantized rows move as their blocks' bytes
 * (a row's blocks stay together), other dtypes through take. t must be row-major over its blocks.
 */
export async function permuteRows(t: Tensor, order: Int32Array): Promise<Tensor> {
  if (!isQuantized(t.dtype)) return t.take(tensor(order, { dtype: "int32", backend: t.backend }), 0);
  const { elements, bytes } = QUANT_BLOCKS[t.dtype];
  const rowBytes = (t.size / t.shape[0]! / elements) * bytes;
  const src = (await t.data()) as Uint8Array;
  const out = new Uint8Array(src.length);
  for (let r = 0; r < order.length; r++) out.set(src.subarray(order[r]! * rowBytes, (order[r]! + 1) * rowBytes), r * rowBytes);
  const backend = t.backend;
  const buffer = backend.adopt ? backend.adopt(out, t.dtype) : backend.upload(out, t.dtype);
  return new Tensor(new Storage(backend, buffer), t.shape, t.dtype);
}
