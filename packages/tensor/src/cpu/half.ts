/**
 * float16 / bfloat16 <-> float32 conversion on raw 16-bit patterns, rounding to nearest even
 * on the way in (what hardware and PyTorch do), so checkpoints round-trip bit for bit.
 */
const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

export function float32ToBfloat16Bits(value: number): number {
  f32[0] = value;
  return bfloat16BitsOf(u32[0]!);
}

/** float32ToBfloat16Bits on a float32's bits. */
function bfloat16BitsOf(bits: number): number {
  if ((bits & 0x7fffffff) > 0x7f800000) return ((bits >>> 16) | 0x40) & 0xffff; // quiet NaN, keep sign
  // Adding 0x7fff plus the lowest kept bit rounds half to even; a carry rolls into the exponent.
  return ((bits + 0x7fff + ((bits >>> 16) & 1)) >>> 16) & 0xffff;
}

export function bfloat16BitsToFloat32(bits: number): number {
  u32[0] = bits << 16;
  return f32[0]!;
}

export function float32ToFloat16Bits(value: number): number {
  f32[0] = value;
  const bits = u32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exp = (bits >>> 23) & 0xff;
  let mant = bits & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 | (mant >>> 13) : 0); // inf / NaN
  const e = exp - 127 + 15; // rebiased exponent
  if (e >= 0x1f) return sign | 0x7c00; // overflow -> inf
  if (e <= 0) {
    // Subnormal half (or zero): shift the mantissa (with its implicit 1) right, rounding to even.
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const shift = 14 - e; // 13 for normal truncation, plus (1 - e)
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let out = mant >>> shift;
    if (rest > half || (rest === half && (out & 1) === 1)) out += 1;
    return sign | out;
  }
  let out = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  // Round to nearest even; a carry out of the mantissa correctly bumps the exponent (to inf at most).
  if (rest > 0x1000 || (rest === 0x1000 && (out & 1) === 1)) out += 1;
  return sign | out;
}

export function float16BitsToFloat32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exp = (bits >>> 10) & 0x1f;
  const mant = bits & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

// Decoding through a 64K table is exact and much faster than bit fiddling per element.
let f16Table: Float32Array | null = null;
/** float16 bits -> float32 value, all 65536 of them (the block dequantizers read their scales here). */
export function float16Table(): Float32Array {
  if (f16Table === null) {
    f16Table = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) f16Table[i] = float16BitsToFloat32(i);
  }
  return f16Table;
}

/** Decodes n half values (float16 or bfloat16 bits) read with a stride into dst[d..d+n). */
export function decodeHalfRun(bf16: boolean, src: Uint16Array, s: number, stride: number, dst: Float32Array, d: number, n: number): void {
  if (bf16) {
    const dstBits = new Uint32Array(dst.buffer, dst.byteOffset, dst.length);
    for (let i = 0; i < n; i++, s += stride) dstBits[d + i] = src[s]! << 16;
  } else {
    const table = float16Table();
    for (let i = 0; i < n; i++, s += stride) dst[d + i] = table[src[s]!]!;
  }
}

/**
 * Rounds n float32 values (their bits, read with a stride) to float16 or bfloat16 bits in dst
 * (rounding to nearest even, as float32ToFloat16Bits / float32ToBfloat16Bits), dst `dstride` apart:
 * a KV cache's float32 step written into its float16 buffers. float16's normal range takes the
 * inline path; zeros, subnormals, overflow, infinities and NaN the scalar converter.
 */
export function encodeHalfRun(
  bf16: boolean,
  src: Uint32Array,
  s: number,
  stride: number,
  dst: Uint16Array,
  d: number,
  dstride: number,
  n: number,
): void {
  for (let i = 0; i < n; i++, s += stride, d += dstride) {
    const bits = src[s]!;
    if (bf16) {
      dst[d] = bfloat16BitsOf(bits);
      continue;
    }
    const abs = bits & 0x7fffffff;
    const exp = abs >>> 23;
    if (exp > 112 && exp < 143) {
      // a normal half: the 13 dropped bits rounded to even by an add (no branch: random bits
      // mispredict), the exponent rebased; a carry may reach infinity, as it should
      dst[d] = ((bits >>> 16) & 0x8000) | (((abs + 0xfff + ((abs >>> 13) & 1)) >>> 13) - (112 << 10));
    } else {
      F32_BITS[0] = bits;
      dst[d] = float32ToFloat16Bits(F32_VALUE[0]!);
    }
  }
}
const F32_BITS = new Uint32Array(1);
const F32_VALUE = new Float32Array(F32_BITS.buffer);

/**
 * n float32 values (their bits at `src`, `stride` apart) rounded to float16 (bfloat16) and widened
 * back, into dst[d, d + n): what a cast to the half dtype and back gives, a chunk of `scratch`'s
 * length at a time (dst may be the values' own array).
 */
export function roundThroughHalves(
  bf16: boolean,
  src: Uint32Array,
  s: number,
  stride: number,
  dst: Float32Array,
  d: number,
  n: number,
  scratch: Uint16Array,
): void {
  for (let done = 0; done < n; done += scratch.length) {
    const m = Math.min(scratch.length, n - done);
    encodeHalfRun(bf16, src, s + done * stride, stride, scratch, 0, 1, m);
    decodeHalfRun(bf16, scratch, 0, 1, dst, d + done, m);
  }
}
