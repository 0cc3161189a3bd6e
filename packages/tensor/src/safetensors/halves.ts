/** Decoding of 16-bit float bit patterns to float32 values (host arrays keep halves as Uint16 bits). */

/** bfloat16 is the top half of a float32: widening is a shift. */
export function bfloat16BitsToFloat32(bits: Uint16Array): Float32Array {
  const wide = new Uint32Array(bits.length);
  for (let i = 0; i < bits.length; i++) wide[i] = bits[i]! << 16;
  return new Float32Array(wide.buffer);
}

/** IEEE binary16 -> float32, exactly (every half is representable in float32). */
export function float16BitsToFloat32(bits: Uint16Array): Float32Array {
  const table = halfTable();
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

// All 65536 halves decoded once (256 KiB): a lookup beats decoding each element of a big checkpoint.
let HALF_TABLE: Float32Array | undefined;
function halfTable(): Float32Array {
  if (!HALF_TABLE) {
    HALF_TABLE = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) HALF_TABLE[h] = float16ToNumber(h);
  }
  return HALF_TABLE;
}

export function float16ToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Widens halves to float32 inside one array: the 16-bit patterns sit in the upper half of `out`'s
 * bytes, and element i is written over bytes that only patterns before i used (i reads its own
 * pattern first), so a checkpoint's halves become float32 with no second array.
 */
export function widenHalvesInPlace(out: Float32Array, kind: "F16" | "BF16"): void {
  const n = out.length;
  const bits = new Uint16Array(out.buffer, out.byteOffset + 2 * n, n);
  if (kind === "BF16") {
    const wide = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) wide[i] = bits[i]! << 16;
    return;
  }
  const table = halfTable();
  for (let i = 0; i < n; i++) out[i] = table[bits[i]!]!;
}
