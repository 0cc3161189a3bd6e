import type { QuantizedDType } from "../dtype.js";

/**
 * GGUF block types we read by widening each block, exactly, into one we hold. Q5_0 (llama.cpp's
 * fallback for rows that are not whole 256-value super-blocks in its K-quant mixes: Qwen2.5-0.5B's
 * 896-wide rows in a Q4_K_M file) is a float16 scale and 32 five-bit values q, each d (q - 16);
 * Q8_0 is the same scale and 32 int8 values, each d q': q' = q - 16 holds every one. The widened
 * tensor takes 34 bytes a block instead of 22, and every product is the one llama.cpp computes
 * (its Q5_0 dot product also runs over Q8_0 activations).
 */
export interface Widening {
  /** What we hold it as. */
  readonly dtype: QuantizedDType;
  /** Bytes and values of one block in the file. */
  readonly blockBytes: number;
  readonly blockElements: number;
  /** The file's blocks as `dtype`'s. */
  widen(blocks: Uint8Array): Uint8Array;
}

export const WIDENED: Readonly<Partial<Record<string, Widening>>> = {
  Q5_0: { dtype: "q8_0", blockBytes: 22, blockElements: 32, widen: q5_0ToQ8_0 },
};

/**
 * block_q5_0 { f16 d; u8 qh[4]; u8 qs[16] } -> block_q8_0 { f16 d; i8 qs[32] }: value j < 16 is the
 * low nibble of qs[j] with bit j of qh on top, value j + 16 the high nibble with bit j + 16.
 */
function q5_0ToQ8_0(src: Uint8Array): Uint8Array {
  const blocks = src.length / 22;
  const out = new Uint8Array(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    const s = b * 22;
    const o = b * 34;
    out[o] = src[s]!;
    out[o + 1] = src[s + 1]!;
    const qh = (src[s + 2]! | (src[s + 3]! << 8) | (src[s + 4]! << 16) | (src[s + 5]! << 24)) >>> 0;
    for (let j = 0; j < 16; j++) {
      const q = src[s + 6 + j]!;
      const low = (q & 0x0f) | (((qh >>> j) & 1) << 4);
      const high = (q >> 4) | (((qh >>> (j + 16)) & 1) << 4);
      out[o + 2 + j] = (low - 16) & 0xff;
      out[o + 2 + j + 16] = (high - 16) & 0xff;
    }
  }
  return out;
}
