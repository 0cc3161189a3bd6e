import { afterAll, describe, expect, it } from "vitest";
import type { StridedView } from "../src/backend.js";
import { CpuBackend } from "../src/cpu/backend.js";
import { float16BitsToFloat32, float32ToFloat16Bits } from "../src/cpu/half.js";
import { residentStats } from "../src/cpu/resident/runtime.js";
import { rng } from "./cpu-helpers.js";

// The resident float32 <-> float16 copies (encode_f16, decode_f16: a KV cache's step written into
// float16 buffers, the buffers widened for a prompt) against the JS converters, bit for bit, over
// every float16 and every class of float32: zeros, subnormals of both, the rounding ties, the
// largest half and what overflows past it, infinities, NaNs with payloads.

const backends = [1, 2].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0 }));
afterAll(() => {
  for (const b of backends) b.close();
});

/** Runs fn, and says whether it called the resident kernel `name`. */
function calls(name: string, fn: () => void): boolean {
  const before = residentStats.calls.get(name) ?? 0;
  fn();
  return (residentStats.calls.get(name) ?? 0) > before;
}

/** float32 bit patterns of every class, a multiple of eight long. */
function float32Cases(): Uint32Array {
  const r = rng(7);
  const bits: number[] = [0, 0x80000000, 0x7f800000, 0xff800000, 0x7fc00000, 0x7f800001, 0xffc12345, 0x7fbfffff];
  for (let exp = 0; exp < 256; exp++) {
    for (let k = 0; k < 40; k++) {
      const mant = k < 8 ? [0, 1, 0xfff, 0x1000, 0x1001, 0x2fff, 0x3000, 0x7fffff][k]! : Math.floor(r() * 0x800000);
      bits.push(((r() < 0.5 ? 0x80000000 : 0) | (exp << 23) | mant) >>> 0);
    }
  }
  // around 65504 (the largest half) and the overflow to infinity, and the subnormal edges
  for (const v of [65504, 65519, 65520, 65536, 6.1035156e-5, 6.097555e-5, 5.9604645e-8, 2.9802322e-8, 2.9802326e-8]) {
    const f = new Float32Array([v, -v]);
    bits.push(...new Uint32Array(f.buffer));
  }
  while (bits.length % 8 !== 0) bits.push(0x3f800000);
  return Uint32Array.from(bits);
}

describe("resident float16 copies", () => {
  it("widen every float16 as float16BitsToFloat32 does", () => {
    const halves = Uint16Array.from({ length: 65536 }, (_, i) => i);
    const want = Float32Array.from(halves, (h) => float16BitsToFloat32(h));
    for (const be of backends) {
      const view: StridedView = { buffer: be.upload(halves, "float16"), shape: [256, 256], strides: [256, 1], offset: 0 };
      let got: Float32Array = new Float32Array(0);
      expect(calls("decode_f16", () => (got = be.readSync(be.cast(view, "float32")) as Float32Array))).toBe(true);
      expect(new Uint32Array(got.buffer, got.byteOffset, got.length)).toEqual(new Uint32Array(want.buffer));
    }
  });

  it("round every class of float32 as float32ToFloat16Bits does", () => {
    const bits = float32Cases();
    const values = new Float32Array(bits.buffer);
    const want = Uint16Array.from(values, (v) => float32ToFloat16Bits(v));
    for (const be of backends) {
      const view: StridedView = { buffer: be.upload(values, "float32"), shape: [values.length / 8, 8], strides: [8, 1], offset: 0 };
      let got: Uint16Array = new Uint16Array(0);
      expect(calls("encode_f16", () => (got = be.readSync(be.cast(view, "float16")) as Uint16Array))).toBe(true);
      expect(got).toEqual(want);
    }
  });

  it("write a step into a float16 cache's strided positions, runs of four and of eight", () => {
    for (const D of [4, 12, 64]) {
      const [H, room, at, T] = [3, 40, 9, 6];
      const values = new Float32Array(float32Cases().buffer).subarray(0, H * T * D);
      for (const be of backends) {
        const cache = new Uint16Array(H * room * D).fill(0xabcd);
        const dst: StridedView = { buffer: be.upload(cache, "float16"), shape: [H, T, D], strides: [room * D, D, 1], offset: at * D };
        // the step as a transposed view ([T, H, D] stored), as attention's keys are
        const src: StridedView = { buffer: be.upload(values, "float32"), shape: [H, T, D], strides: [D, H * D, 1], offset: 0 };
        expect(calls("encode_f16", () => be.writeInto(dst, src))).toBe(true);
        const got = be.readSync(dst.buffer) as Uint16Array;
        for (let h = 0; h < H; h++)
          for (let p = 0; p < room; p++)
            for (let d = 0; d < D; d++) {
              const inside = p >= at && p < at + T;
              const want = inside ? float32ToFloat16Bits(values[(p - at) * H * D + h * D + d]!) : 0xabcd;
              expect(got[h * room * D + p * D + d]).toBe(want);
            }
      }
    }
  });

  it("leave runs that are not a multiple of four, or not contiguous, to the JS converters", () => {
    const values = new Float32Array(float32Cases().buffer).subarray(0, 8 * 10);
    for (const be of backends) {
      const odd: StridedView = { buffer: be.upload(values, "float32"), shape: [8, 10], strides: [10, 1], offset: 0 };
      const column: StridedView = { buffer: be.upload(values, "float32"), shape: [10, 8], strides: [1, 10], offset: 0 };
      for (const [view, n] of [
        [odd, 80],
        [column, 80],
      ] as const) {
        let got: Uint16Array = new Uint16Array(0);
        // [8, 10] coalesces to one run of 80 (a multiple of four): the kernel; the transpose does not
        const used = calls("encode_f16", () => (got = be.readSync(be.cast(view, "float16")) as Uint16Array));
        expect(used).toBe(view === odd);
        expect(got.length).toBe(n);
      }
    }
  });
});
