import { float16Table, float32ToFloat16Bits } from "../cpu/half.js";
import { setU16 } from "./k_quants.js";

/**
 * llama.cpp's Q4_1 and Q5_1 (ggml's block_q4_1, block_q5_1): 32 values as an f16 scale d = (max -
 * min) / 15 (Q5_1: / 31), an f16 min m, and the levels q = trunc((x - min) / d + 0.5): Q4_1 keeps
 * them in 16 bytes of nibbles (values 0..15 low, 16..31 high; clamped to 15), Q5_1 adds 4 bytes of
 * fifth bits before them (bit j for value j; not clamped: a level of 32 wraps to 0, as in the C
 * reference). Value = d q + m, rounded twice in float32 as ggml's dequantize_row_q4_1 / _q5_1 and
 * gguf-py round it. llama-quantize falls back to Q5_1 for rows of a Q5_K_M file that are not whole
 * 256-value super-blocks. Float32 steps as in quantize_row_q4_1_ref / _q5_1_ref: llama.cpp's bytes.
 */
export const Q4_1_BYTES = 20;
export const Q5_1_BYTES = 24;
const BLOCK = 32;

export function quantizeQ4_1(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  quantizeMinBlocks(src, s, n, dst, o, false);
}

export function quantizeQ5_1(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number): void {
  quantizeMinBlocks(src, s, n, dst, o, true);
}

function quantizeMinBlocks(src: Float32Array, s: number, n: number, dst: Uint8Array, o: number, fifthBit: boolean): void {
  const f = Math.fround;
  const blockBytes = fifthBit ? Q5_1_BYTES : Q4_1_BYTES;
  const q = fifthBit ? 8 : 4;
  for (let b = 0; b < n; b += BLOCK, o += blockBytes) {
    let min = Infinity;
    let max = -Infinity;
    for (let j = 0; j < BLOCK; j++) {
      const v = src[s + b + j]!;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    const d = f(f(max - min) / (fifthBit ? 31 : 15));
    const id = d !== 0 ? f(1 / d) : 0;
    const dBits = float32ToFloat16Bits(d);
    const mBits = float32ToFloat16Bits(min);
    setU16(dst, o, dBits);
    setU16(dst, o + 2, mBits);
    const level = (x: number): number => Math.trunc(f(f(f(x - min) * id) + 0.5)) & 0xff;
    let qh = 0;
    for (let j = 0; j < 16; j++) {
      let x0 = level(src[s + b + j]!);
      let x1 = level(src[s + b + 16 + j]!);
      if (fifthBit) {
        qh |= ((x0 >> 4) & 1) << j;
        qh |= ((x1 >> 4) & 1) << (j + 16);
      } else {
        x0 = Math.min(15, x0);
        x1 = Math.min(15, x1);
      }
      dst[o + q + j] = (x0 & 15) | ((x1 & 15) << 4);
    }
    if (fifthBit) dst.set([qh & 0xff, (qh >>> 8) & 0xff, (qh >>> 16) & 0xff, qh >>> 24], o + 4);
  }
}

export function dequantizeQ4_1(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  dequantizeMinBlocks(src, o, n, dst, d, false);
}

export function dequantizeQ5_1(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number): void {
  dequantizeMinBlocks(src, o, n, dst, d, true);
}

function dequantizeMinBlocks(src: Uint8Array, o: number, n: number, dst: Float32Array, d: number, fifthBit: boolean): void {
  const f = Math.fround;
  const table = float16Table();
  const blockBytes = fifthBit ? Q5_1_BYTES : Q4_1_BYTES;
  const q = fifthBit ? 8 : 4;
  for (let b = 0; b < n; b += BLOCK, o += blockBytes) {
    const scale = table[src[o]! | (src[o + 1]! << 8)]!;
    const min = table[src[o + 2]! | (src[o + 3]! << 8)]!;
    const qh = fifthBit ? (src[o + 4]! | (src[o + 5]! << 8) | (src[o + 6]! << 16) | (src[o + 7]! << 24)) >>> 0 : 0;
    for (let j = 0; j < 16; j++) {
      const byte = src[o + q + j]!;
      const low = (byte & 15) | (((qh >>> j) & 1) << 4);
      const high = (byte >>> 4) | (((qh >>> (j + 16)) & 1) << 4);
      dst[d + b + j] = f(f(scale * low) + min);
      dst[d + b + 16 + j] = f(f(scale * high) + min);
    }
  }
}
