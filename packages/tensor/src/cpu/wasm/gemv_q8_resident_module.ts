import { emitModule, f32, i32, v128, type FuncDef } from "./encoder.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { IQ4_VALUES } from "../../quant/iq4.js";
import { finiteHalfLanes, halfLanesFast, rowsLoop, StoredCode } from "./gemv_stored_module.js";
import {
  LATTICE_DTYPES,
  LATTICE_FACTOR,
  latticeD,
  latticeIntScale,
  latticeLevels,
  latticeSubBlock,
  scalePerSixteen,
  type LatticeDType,
} from "./lattice_code.js";

/**
 * Decoding over Q8_0 / Q4_0 weights (and Q6_K / Q4_K / Q5_K with Q8_K activations: quantizeQ8K, gemvQ6K, gemvScaleMin below)
 * as llama.cpp's CPU backend does it (activationRounding "ggml"):
 * each activation row is first quantized to Q8_0 blocks (32 int8 and a scale, the scale rounded to
 * float16 as ggml's block_q8_0 keeps it), then every block's dot product is an integer one, int8 x
 * int8 summed exactly in int32, times d_w * d_x. About a third of the operations of dequantizing each
 * weight to float32 (gemv_stored_resident_module.ts), and the values are the same as rounding the
 * activations with roundActivationsLikeGgml (kernels/ggml_rounding.ts) and running the float kernel:
 * results differ from that only in summation order.
 *
 * A quantized activation row (`ldq` bytes apart, 16-aligned), nb blocks:
 *   [0, 64 nb)     the values as int16 (the plain-SIMD dot products read them so),
 *   [64 nb, 96 nb) the values as int8 (relaxed SIMD's int8 dot product reads them so),
 *   [96 nb, 100 nb)  each block's scale as float32 (the float16 value),
 *   [100 nb, 104 nb) each block's sum of values, int32 (Q4_0's offset of 8: sum (q - 8) x = sum q x - 8 sum x),
 *   [104 nb, 108 nb) Q8_1's s, float32: the sum times the unrounded float32 scale, rounded to float16
 *                    (ggml's quantize_row_q8_1; Q4_1 / Q5_1 multiply their min by it).
 * Functions (addresses and strides in bytes):
 *  - `quantize_q8_0(x, q, m, nb, ldx, ldq)`: m float32 rows of 32 nb values, ldx apart, into the above;
 *  - `gemv_q8_0 / gemv_q4_0(w, q, y, n, nb, ldw, m, ldq, ldy)`: for n weight rows r (ldw apart) and m
 *    quantized rows i, y[i * ldy + 4 r] = W[r, :] . x_i.
 * Block sums are taken four blocks at a time: [sum_b0, sum_b1, sum_b2, sum_b3] (int32, exact), then
 * float32 lanes acc += float(sum_b) * (d_w * d_x), added pairwise at the end, so the result does not
 * depend on relaxed SIMD (its int8 dot product, used where a type's levels are unsigned and the
 * engine computes it exactly, gives the same integers)
 * nor on how threads split the rows. IQ4_NL (plain int16 dot products only) takes a block an
 * iteration instead, each of its int32 lanes converted (gemvQ8Blockwise).
 */
// biome-ignore format: the opcode methods are a table, one line each
export class Int8Code extends StoredCode {
  /** i8x16.shuffle of the two vectors on the stack by 32-bit lanes (0-3 the first, 4-7 the second). */
  lanes32(l: readonly [number, number, number, number]): this { return this.simdOp(0x0d, ...l.flatMap((x) => [4 * x, 4 * x + 1, 4 * x + 2, 4 * x + 3])); }
  i8x16NarrowI16x8S(): this { return this.simdOp(0x65); }
  i16x8NarrowI32x4S(): this { return this.simdOp(0x85); }
  i16x8ExtendLowI8x16U(): this { return this.simdOp(0x89); }
  i16x8ExtendHighI8x16U(): this { return this.simdOp(0x8a); }
  i32x4LtS(): this { return this.simdOp(0x39); }
  i32x4GeS(): this { return this.simdOp(0x3f); }
  i32x4Sub(): this { return this.simdOp(0xb1); }
  i32x4MaxS(): this { return this.simdOp(0xb8); }
  i32x4DotI16x8S(): this { return this.simdOp(0xba); }
  /** relaxed SIMD: a . b per 2 bytes as int16, a int8, b 0..127 (stack a, b); exact, as |a . b| <= 2 * 128 * 127. */
  i16x8RelaxedDotI8x16I7x16S(): this { return this.simdOp(0x112); }
  i16x8Add(): this { return this.simdOp(0x8e); }
  f32Ge(): this { this.bytes.push(0x60); return this; }
  f32Copysign(): this { this.bytes.push(0x98); return this; }
  i32Load8S(offset = 0): this { this.bytes.push(0x2c, ...this.at(offset)); return this; }
  i32Store16(offset = 0): this { this.bytes.push(0x3b, 1, ...this.at(offset).slice(1)); return this; }
  i32x4Mul(): this { return this.simdOp(0xb5); }
  i32Load16S(offset = 0): this { this.bytes.push(0x2e, 1, ...this.at(offset).slice(1)); return this; }
  /**
   * Stores lane 0 of v128 local `v` at the address in local `at`, which the kernel overwrites later
   * (its output for the row): V8 schedules the loads of a loop body at its top, and a store keeps
   * the work that makes `v` before the loads that follow it (a load does not pass a store), so an
   * unrolled body's vectors stay in registers rather than spilling to the stack.
   */
  fence(at: number, v: number): this { return this.localGet(at).localGet(v).simdOp(0x5a, ...this.at(0), 0); }
}

/**
 * Q8_K rows (for the K-quants, IQ4_XS and the lattice types), nb super-blocks of 256: [0, 768 nb)
 * the values, 768 bytes a super-block (`values` apart): as int16 (the plain-SIMD dot products read
 * them so) and then as int8 at +512 (relaxed SIMD's int8 dot product reads them so); [768 nb, 800 nb)
 * each 16 values' sum (int16, ggml's bsums), [800 nb, 804 nb) each super-block's d, float32.
 */
export const Q8K_ROW = { int16: 0, int8: 512, values: 768, sums: 768, scales: 800, bytes: 804 } as const;

/** Bytes a Q8_K activation row of nb super-blocks takes, 16-aligned. */
export function q8KRowBytes(nb: number): number {
  return Math.ceil((Q8K_ROW.bytes * nb) / 16) * 16;
}

/** Byte offsets of the parts of a quantized row of nb blocks (see above). */
export const Q8_ROW = { int16: 0, int8: 64, scales: 96, sums: 100, s1: 104, bytes: 108 } as const;

/** Bytes a quantized activation row of nb blocks takes, 16-aligned. */
export function q8RowBytes(nb: number): number {
  return Math.ceil((Q8_ROW.bytes * nb) / 16) * 16;
}

/**
 * Pushes the non-negative float32 in local `v` rounded to float16 (to nearest, ties to even), as
 * float32; `v` is changed. Below 2^-14 (float16 subnormals) adding 0.5 rounds it to a multiple of
 * 2^-24; above, the integer add rounds the mantissa to 10 bits (a carry bumps the exponent); 65536
 * and up is infinity; NaN stays NaN.
 */
function roundToHalf(f: Int8Code, v: number): void {
  f.localGet(v).f32Const(0.5).f32Add().f32Const(0.5).f32Sub();
  f.localGet(v).i32ReinterpretF32().i32Const(0xfff).i32Add();
  f.localGet(v).i32ReinterpretF32().i32Const(13).i32ShrU().i32Const(1).i32And().i32Add();
  f.i32Const(-0x2000).i32And().f32ReinterpretI32();
  f.localGet(v)
    .f32Const(2 ** -14)
    .f32Lt()
    .select()
    .localSet(v);
  f.f32Const(Number.POSITIVE_INFINITY).localGet(v).localGet(v).f32Const(65536).f32Ge().select();
}

/** 1.5 x 2^23: a float32 in [2^23, 2^24), where the spacing is 1, and its bits. */
const ROUNDING_MAGIC = 12582912;
const ROUNDING_MAGIC_BITS = 0x4b400000;

/** Locals of quantizeQ8Block: v (eight v128), t and idv (v128), amax, d and id (f32), sum (i32). */
export interface Q8BlockLocals {
  readonly v: readonly number[];
  readonly t: number;
  readonly idv: number;
  readonly amax: number;
  readonly d: number;
  readonly id: number;
  readonly sum: number;
}

/**
 * The 32 floats at local px quantized as ggml's quantize_row_q8_0 does a block: q = round half to
 * even (x * 127 / amax) as int32 lanes in v[0..7], d = amax / 127 rounded to float16 (as float32)
 * in d, the sum of q in sum; `d32` (a local, optional) gets d before its rounding (Q8_1's s).
 */
export function quantizeQ8Block(f: Int8Code, l: Q8BlockLocals, px: number, d32?: number): void {
  const { v, t, idv, amax, d, id, sum } = l;
  for (let j = 0; j < 8; j++)
    f.localGet(px)
      .v128Load(16 * j)
      .localSet(v[j]!);
  // amax = max |x| (NaN if any is NaN, as Math.max), in every lane: the largest bit pattern of the
  // magnitudes, whose integer order is their numeric order with NaNs above infinity (one
  // instruction, where f32x4.max's NaN and signed-zero rules cost V8 eight)
  f.localGet(v[0]!).f32x4Abs();
  for (let j = 1; j < 8; j++) f.localGet(v[j]!).f32x4Abs().i32x4MaxS();
  f.localTee(t).localGet(t).localGet(t).lanes32([2, 3, 0, 1]).i32x4MaxS();
  f.localTee(t).localGet(t).localGet(t).lanes32([1, 0, 3, 2]).i32x4MaxS();
  f.f32x4ExtractLane(0).localSet(amax);
  // d = amax / 127, id = 127 / amax (0 for an all-zero block): float32 divisions, as ggml's
  f.localGet(amax).f32Const(127).f32Div().localSet(d);
  f.f32Const(127).localGet(amax).f32Div().f32Const(0).localGet(amax).f32Const(0).f32Ne().select().localSet(id);
  // the scale: d rounded to float16 (roundToHalf)
  if (d32 !== undefined) f.localGet(d).localSet(d32);
  roundToHalf(f, d);
  f.localSet(d);
  // q = round half to even (x * id), as int32 lanes: |x * id| <= 127, so adding 1.5 x 2^23 rounds
  // it to an integer (to nearest, ties to even) in the mantissa's low bits, and the sum's bits
  // minus those of 1.5 x 2^23 are q (f32x4.nearest then i32x4.trunc_sat give the same, in nine
  // instructions; a NaN's q differs, but its block's d is NaN)
  f.localGet(id).f32x4Splat().localSet(idv);
  for (let j = 0; j < 8; j++)
    f.localGet(v[j]!)
      .localGet(idv)
      .f32x4Mul()
      .f32x4Const(ROUNDING_MAGIC)
      .f32x4Add()
      .i32x4Const(ROUNDING_MAGIC_BITS)
      .i32x4Sub()
      .localSet(v[j]!);
  // the block's sum of q
  f.localGet(v[0]!);
  for (let j = 1; j < 8; j++) f.localGet(v[j]!).i32x4Add();
  f.localSet(t);
  f.localGet(t).i32x4ExtractLane(0).localGet(t).i32x4ExtractLane(1).i32Add();
  f.localGet(t).i32x4ExtractLane(2).i32Add().localGet(t).i32x4ExtractLane(3).i32Add();
  f.localSet(sum);
}

/**
 * Pushes Q8_1's s of a block (ggml's quantize_row_q8_1): its sum of q (local `sum`) times the
 * unrounded float32 d (local `d32`), rounded to float16 by its magnitude, the sign put back;
 * `scratch` is an f32 local it overwrites.
 */
export function q8_1S(f: Int8Code, sum: number, d32: number, scratch: number): void {
  f.localGet(sum).f32ConvertI32S().localGet(d32).f32Mul().f32Abs().localSet(scratch);
  roundToHalf(f, scratch);
  f.localGet(sum).f32ConvertI32S().f32Copysign();
}

function quantizeQ8_0(): FuncDef {
  const [X, Q, M, NB, LDX, LDQ] = [0, 1, 2, 3, 4, 5];
  const v = [6, 7, 8, 9, 10, 11, 12, 13];
  const [t, idv] = [14, 15];
  const [amax, d, id] = [16, 17, 18];
  const [px, p16, p8, ps, psum, b] = [19, 20, 21, 22, 23, 24];
  const [d32, ps1, sum] = [25, 26, 27];
  const f = new Int8Code();
  f.block().localGet(M).i32Eqz().brIf(0).localGet(NB).i32Eqz().brIf(0);
  f.loop(); // rows
  f.localGet(X).localSet(px).localGet(Q).localSet(p16);
  f.localGet(Q).localGet(NB).i32Const(Q8_ROW.int8).i32Mul().i32Add().localSet(p8);
  f.localGet(Q).localGet(NB).i32Const(Q8_ROW.scales).i32Mul().i32Add().localSet(ps);
  f.localGet(Q).localGet(NB).i32Const(Q8_ROW.sums).i32Mul().i32Add().localSet(psum);
  f.localGet(Q).localGet(NB).i32Const(Q8_ROW.s1).i32Mul().i32Add().localSet(ps1);
  f.localGet(NB).localSet(b);
  f.loop(); // blocks of 32
  quantizeQ8Block(f, { v, t, idv, amax, d, id, sum }, px, d32);
  f.localGet(ps).localGet(d).f32Store();
  f.localGet(psum).localGet(sum).i32Store();
  f.localGet(ps1);
  q8_1S(f, sum, d32, amax);
  f.f32Store();
  // int16 (four vectors of 8), then int8 (two of 16); |q| <= 127, so no narrowing saturates
  for (let j = 0; j < 4; j++) {
    f.localGet(v[2 * j]!)
      .localGet(v[2 * j + 1]!)
      .i16x8NarrowI32x4S()
      .localSet(v[j]!);
    f.localGet(p16)
      .localGet(v[j]!)
      .v128Store(16 * j);
  }
  for (let j = 0; j < 2; j++) {
    f.localGet(p8)
      .localGet(v[2 * j]!)
      .localGet(v[2 * j + 1]!)
      .i8x16NarrowI16x8S()
      .v128Store(16 * j);
  }
  f.localGet(px).i32Const(128).i32Add().localSet(px);
  f.localGet(p16).i32Const(64).i32Add().localSet(p16);
  f.localGet(p8).i32Const(32).i32Add().localSet(p8);
  f.localGet(ps).i32Const(4).i32Add().localSet(ps);
  f.localGet(psum).i32Const(4).i32Add().localSet(psum);
  f.localGet(ps1).i32Const(4).i32Add().localSet(ps1);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
  f.localGet(X).localGet(LDX).i32Add().localSet(X);
  f.localGet(Q).localGet(LDQ).i32Add().localSet(Q);
  f.localGet(M).i32Const(1).i32Sub().localTee(M).brIf(0);
  f.end().end();
  return {
    name: "quantize_q8_0",
    params: [i32, i32, i32, i32, i32, i32],
    locals: [...new Array<typeof v128>(10).fill(v128), f32, f32, f32, i32, i32, i32, i32, i32, i32, f32, i32, i32],
    body: f,
  };
}

/**
 * `quantize_q8_k(x, q, m, nb, ldx, ldq)`: quantize_row_q8_K_ref on m rows of 256 nb floats: per
 * super-block, max = the value of largest magnitude (the first such), iscale = -127 / max, q =
 * min(127, round half to even (x * iscale)), d = 1 / iscale (float32 throughout, as ggml); an
 * all-zero super-block gets d = 0, one holding a NaN d = NaN (so its products are NaN, as rounding
 * it in JS makes them).
 */
function quantizeQ8K(): FuncDef {
  const [X, Q, M, NB, LDX, LDQ] = [0, 1, 2, 3, 4, 5];
  const [isv, q0, q1, q2, q3] = [6, 7, 8, 9, 10];
  const [amax, mx, v, iscale, d] = [11, 12, 13, 14, 15];
  const [px, p16, pb, pd, b, pp, k, nan, c] = [16, 17, 18, 19, 20, 21, 22, 23, 24];
  const [n0, n1] = [25, 26];
  const q = [q0, q1, q2, q3];
  const f = new Int8Code();
  f.block().localGet(M).i32Eqz().brIf(0).localGet(NB).i32Eqz().brIf(0);
  f.loop(); // rows
  f.localGet(X).localSet(px).localGet(Q).localSet(p16);
  f.localGet(Q).localGet(NB).i32Const(Q8K_ROW.sums).i32Mul().i32Add().localSet(pb);
  f.localGet(Q).localGet(NB).i32Const(Q8K_ROW.scales).i32Mul().i32Add().localSet(pd);
  f.localGet(NB).localSet(b);
  f.loop(); // super-blocks of 256
  // the value of largest magnitude, first found (scalar: a few hundred operations a row)
  f.f32Const(0).localSet(amax).f32Const(0).localSet(mx).i32Const(0).localSet(nan);
  f.localGet(px).localSet(pp).i32Const(256).localSet(k);
  f.loop();
  f.localGet(pp).f32Load().localSet(v);
  f.localGet(nan).localGet(v).localGet(v).f32Ne().i32Or().localSet(nan);
  f.localGet(v).f32Abs().localGet(amax).f32Gt().localSet(c);
  f.localGet(v).localGet(mx).localGet(c).select().localSet(mx);
  f.localGet(v).f32Abs().localGet(amax).localGet(c).select().localSet(amax);
  f.localGet(pp).i32Const(4).i32Add().localSet(pp);
  f.localGet(k).i32Const(1).i32Sub().localTee(k).brIf(0);
  f.end();
  f.f32Const(-127).localGet(mx).f32Div().f32Const(0).localGet(amax).f32Const(0).f32Ne().select().localSet(iscale);
  f.f32Const(1).localGet(iscale).f32Div().f32Const(0).localGet(amax).f32Const(0).f32Ne().select().localSet(d);
  f.localGet(pd).f32Const(Number.NaN).localGet(d).localGet(nan).select().f32Store();
  f.localGet(iscale).f32x4Splat().localSet(isv);
  for (let sub = 0; sub < 16; sub++) {
    for (let j = 0; j < 4; j++)
      f.localGet(px)
        .v128Load(64 * sub + 16 * j)
        .localGet(isv)
        .f32x4Mul()
        .f32x4Nearest()
        .f32x4Const(127)
        .f32x4Min()
        .i32x4TruncSatF32x4S()
        .localSet(q[j]!);
    // int16, then int8 (|q| <= 127: no narrowing saturates)
    f.localGet(q0).localGet(q1).i16x8NarrowI32x4S().localSet(n0);
    f.localGet(q2).localGet(q3).i16x8NarrowI32x4S().localSet(n1);
    f.localGet(p16)
      .localGet(n0)
      .v128Store(32 * sub);
    f.localGet(p16)
      .localGet(n1)
      .v128Store(32 * sub + 16);
    f.localGet(p16)
      .localGet(n0)
      .localGet(n1)
      .i8x16NarrowI16x8S()
      .v128Store(Q8K_ROW.int8 + 16 * sub);
    // the 16 values' sum
    f.localGet(q0).localGet(q1).i32x4Add().localGet(q2).i32x4Add().localGet(q3).i32x4Add().localSet(q0);
    f.localGet(pb);
    f.localGet(q0).i32x4ExtractLane(0).localGet(q0).i32x4ExtractLane(1).i32Add();
    f.localGet(q0).i32x4ExtractLane(2).i32Add().localGet(q0).i32x4ExtractLane(3).i32Add();
    f.i32Store16(2 * sub);
  }
  f.localGet(px).i32Const(1024).i32Add().localSet(px);
  f.localGet(p16).i32Const(Q8K_ROW.values).i32Add().localSet(p16);
  f.localGet(pb).i32Const(32).i32Add().localSet(pb);
  f.localGet(pd).i32Const(4).i32Add().localSet(pd);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
  f.localGet(X).localGet(LDX).i32Add().localSet(X);
  f.localGet(Q).localGet(LDQ).i32Add().localSet(Q);
  f.localGet(M).i32Const(1).i32Sub().localTee(M).brIf(0);
  f.end().end();
  return {
    name: "quantize_q8_k",
    params: [i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, v128, f32, f32, f32, f32, f32, i32, i32, i32, i32, i32, i32, i32, i32, i32, v128, v128],
    body: f,
  };
}

/**
 * The float16 in the low 16 bits of each i32 lane of the vector on the stack, as float32, exactly
 * as the JS decoder gives it (normals by rebasing the exponent, subnormals as integer times 2^-24,
 * infinities and NaNs kept): no float operation sees a float32 subnormal (a microcode assist on x86).
 * For the K-quants' d: Q6_K's is often a float16 subnormal in real files (the largest 16-value
 * scale over -128, and that scale about amax / 32).
 */
export function halfLanes(f: Int8Code, h: number, m: number): void {
  f.localTee(h).i32x4Const(0x7fff).v128And().localSet(m);
  f.localGet(m).i32Const(13).i32x4Shl().i32x4Const(0x7f800000).v128Or(); // infinity or NaN
  f.localGet(m)
    .f32x4ConvertI32x4S()
    .f32x4Const(2 ** -24)
    .f32x4Mul(); // subnormal or zero
  f.localGet(m)
    .i32Const(13)
    .i32x4Shl()
    .i32x4Const(112 << 23)
    .i32x4Add(); // normal
  f.localGet(m).i32x4Const(0x400).i32x4LtS().v128Bitselect();
  f.localGet(m).i32x4Const(0x7c00).i32x4GeS().v128Bitselect();
  f.localGet(h).i32x4Const(0x8000).v128And().i32Const(16).i32x4Shl().v128Or();
}

/** The 32-value block types' int8 GEMVs. */
type BlockKind = "q8_0" | "q4_0" | "q5_0" | "q4_1" | "q5_1" | "iq4_nl";
/**
 * The block types with `gemv_<kind>_finite` twins (see gemvQ8's `finite`), and where in a block
 * the float16s those twins decode sit: d, and Q4_1's / Q5_1's min.
 */
export const FINITE_SCALE_OFFSETS = { q8_0: [0], q4_0: [0], q5_0: [0], q4_1: [0, 2], q5_1: [0, 2] } as const;
const FINITE_SCALE_KINDS = Object.keys(FINITE_SCALE_OFFSETS) as (keyof typeof FINITE_SCALE_OFFSETS)[];
/** Bytes a block takes. */
const BLOCK_BYTES = { q8_0: 34, q4_0: 18, q5_0: 22, q4_1: 20, q5_1: 24, iq4_nl: 18 } as const;
/** Where a block's nibbles start (after d; Q4_1's min; Q5_0's / Q5_1's u32 of fifth bits). */
const NIBBLES_AT = { q8_0: 2, q4_0: 2, q5_0: 6, q4_1: 4, q5_1: 8, iq4_nl: 2 } as const;

/**
 * Locals blockDot reads: the weight row's, int16 and int8 activations' positions (the int8 ones
 * only on the relaxed path), and three v128 scratch.
 */
interface BlockDotLocals {
  readonly pw: number;
  readonly p16: number;
  readonly p8?: number;
  readonly nib: number;
  readonly h: number;
  readonly m: number;
}

/**
 * Pushes int32 lanes summing to block b's dot product (the b-th block from local pw, its
 * activations from p16 / p8); `relaxed` takes the int8 dot product for the unsigned levels (which
 * spreads the products over the lanes otherwise: callers convert each block's total, or take the
 * plain path), and with `int16` leaves its int16 lanes (each |lane| <= 2 * 2 * 31 * 127, so two of
 * them add without overflow) for the caller to widen.
 */
function blockDot(f: Int8Code, kind: BlockKind, relaxed: boolean, l: BlockDotLocals, b: number, int16 = false): void {
  const { pw, p16, p8, nib, h, m } = l;
  const blockBytes = BLOCK_BYTES[kind];
  const nibblesAt = NIBBLES_AT[kind];
  const fifthAt = kind === "q5_0" ? 2 : kind === "q5_1" ? 4 : null;
  const wb = blockBytes * b;
  if (kind === "q8_0") {
    for (let j = 0; j < 4; j++) {
      f.localGet(pw).load8x8S(wb + 2 + 8 * j);
      f.localGet(p16)
        .v128Load(64 * b + 16 * j)
        .i32x4DotI16x8S();
      if (j > 0) f.i32x4Add();
    }
    return;
  }
  // Q4_0: 16 bytes, low nibbles values 0-15, high nibbles 16-31, each stored plus 8 (taken off below);
  // Q5_0: the same with value j's fifth bit (bit j of the u32 before them) as 16, stored plus 16;
  // IQ4_NL: the same nibbles, each looked up as its signed level (i8x16.swizzle over the table)
  f.localGet(pw)
    .loadAny(wb + nibblesAt)
    .localSet(nib);
  const parts: [boolean, boolean][] = [
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ];
  if (fifthAt !== null) {
    // values 0-15 and 16-31 with their fifth bits, each made once (h, m: free until group's sums)
    f.localGet(nib)
      .constBytes(0x0f)
      .v128And()
      .fifthBitsOfWord(pw, wb + fifthAt, 0)
      .v128Or()
      .localSet(h);
    f.localGet(nib)
      .bytesShrU(4)
      .fifthBitsOfWord(pw, wb + fifthAt, 1)
      .v128Or()
      .localSet(m);
  }
  if (relaxed && kind !== "iq4_nl") {
    if (p8 === undefined) throw new Error("blockDot: the relaxed path reads the int8 activations (p8)");
    // the levels (0-15, Q5's 0-31) are relaxed SIMD's 7-bit operand: two int16 dot products of 16
    // bytes each, added as int16 (|sum| <= 4 * 127 * 31), then pairs of lanes as int32
    const levels = (high: boolean): void => {
      if (fifthAt !== null) f.localGet(high ? m : h);
      else if (high) f.localGet(nib).bytesShrU(4);
      else f.localGet(nib).constBytes(0x0f).v128And();
    };
    f.localGet(p8).v128Load(32 * b);
    levels(false);
    f.i16x8RelaxedDotI8x16I7x16S();
    f.localGet(p8).v128Load(32 * b + 16);
    levels(true);
    f.i16x8RelaxedDotI8x16I7x16S().i16x8Add();
    if (!int16) f.pairSumsI32();
    return;
  }
  parts.forEach(([high, upper], j) => {
    if (kind === "iq4_nl") f.bytesConst(IQ4_VALUES.map((v) => v & 0xff));
    if (fifthAt !== null) f.localGet(high ? m : h);
    else {
      f.localGet(nib);
      if (high) f.bytesShrU(4);
      else f.constBytes(0x0f).v128And();
    }
    if (kind === "iq4_nl") {
      // signed levels, sign-extended
      f.swizzle();
      if (upper) f.i16x8ExtendHighI8x16S();
      else f.i16x8ExtendLowI8x16S();
    } else if (upper) f.i16x8ExtendHighI8x16U();
    else f.i16x8ExtendLowI8x16U();
    f.localGet(p16)
      .v128Load(64 * b + 16 * j)
      .i32x4DotI16x8S();
    if (j > 0) f.i32x4Add();
  });
}

/**
 * Pushes the float16 at byte `at` of `count` (1-4) blocks of `blockBytes` from local `base` (their
 * d, or Q4_1's / Q5_1's min) as float32 lanes, the others 0: the 32-value blocks' scales (amax /
 * 127, amax / 8) are float16 normals in real files, so the eight-operation decoder (the K-quants'
 * d, often subnormal, keep halfLanes). `tv`, `h`: v128 scratch (`tv` may be `h`).
 */
function blockHalves(
  f: Int8Code,
  base: number,
  blockBytes: number,
  count: number,
  at: number,
  l: { tv: number; h: number },
  finite = false,
): void {
  f.v128Const0().localSet(l.tv);
  for (let b = 0; b < count; b++)
    f.localGet(base)
      .i32Const(blockBytes * b + at)
      .i32Add()
      .localGet(l.tv)
      .load16Lane(0, 2 * b)
      .localSet(l.tv);
  f.localGet(l.tv);
  // known finite (finiteBlockScales in resident/matmul_stored_q8.ts): four operations fewer a group
  // of four blocks, 84 -> 80 in a Q4_0 GEMV's (5632 x 2048 streaming 25.9-26.5 -> 28.4-29.1 G weights/s)
  if (finite) finiteHalfLanes(f);
  else halfLanesFast(f, l.h);
}

/**
 * `finite`: the block scales (and Q4_1's / Q5_1's mins) decoded without the infinity and NaN case
 * (finiteHalfLanes): `gemv_<kind>_finite`, for weights whose scales are all finite.
 */
function gemvQ8(kind: Exclude<BlockKind, "iq4_nl">, relaxed: boolean, finite = false): FuncDef {
  const NB = 4;
  const [acc, s0, s1, s2, s3, nib, h, m, tv] = [9, 10, 11, 12, 13, 14, 15, 16, 17];
  const [pw, p16, p8, ps, psum, g, xi, yi, i, rem, ps1] = [18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28];
  const s = [s0, s1, s2, s3];
  const blockBytes = BLOCK_BYTES[kind];
  const withMin = kind === "q4_1" || kind === "q5_1";
  // relaxed SIMD's nibble types leave int16 sums: two blocks widened at once
  const pairwise = relaxed && kind !== "q8_0";
  const f = new Int8Code();

  /**
   * t (1-4) blocks from pw, p16, p8, ps, psum into acc (not moving the pointers); each block's sums
   * fenced into the output before the next block's loads: unfenced, V8 loaded all four blocks at
   * the top of the loop and spilled a third of its vectors (G weights/s: Q4_0 relaxed 22.9-23.8 ->
   * 23.0-24.3, plain 13.2 -> 16.0; Q8_0 15.5-16.9 -> 17.9-19.0, where it had taken a block an
   * iteration to avoid the spills).
   */
  const group = (t: number): void => {
    const get = (b: number): void => {
      if (b < t) f.localGet(s[b]!);
      else f.v128Const0();
    };
    if (pairwise) {
      // each pair of blocks' int16 lanes as [b0 0-3 | b1 0-3] + [b0 4-7 | b1 4-7], then pairs of
      // lanes as int32: [b0, b0, b1, b1], one widening for two blocks; then the two pairs' halves
      // added: [sum b0, sum b1, sum b2, sum b3] (the same exact integers as widening each block)
      for (let pair = 0; pair < 2 && 2 * pair < t; pair++) {
        for (const b of [2 * pair, 2 * pair + 1].filter((b) => b < t)) {
          blockDot(f, kind, relaxed, { pw, p16, p8, nib, h, m }, b, true);
          f.localSet(s[b]!).fence(yi, s[b]!);
        }
        get(2 * pair);
        get(2 * pair + 1);
        f.lanes32([0, 1, 4, 5]);
        get(2 * pair);
        get(2 * pair + 1);
        f.lanes32([2, 3, 6, 7]).i16x8Add().pairSumsI32().localSet(s[pair]!);
      }
      const half = (pair: number): void => {
        if (2 * pair < t) f.localGet(s[pair]!);
        else f.v128Const0();
      };
      half(0);
      half(1);
      f.lanes32([0, 2, 4, 6]);
      half(0);
      half(1);
      f.lanes32([1, 3, 5, 7]).i32x4Add();
    } else {
      for (let b = 0; b < t; b++) {
        blockDot(f, kind, relaxed, { pw, p16, p8, nib, h, m }, b);
        f.localSet(s[b]!).fence(yi, s[b]!);
      }
      // [sum s0, sum s1, sum s2, sum s3]
      get(0);
      get(1);
      f.lanes32([0, 4, 1, 5]);
      get(0);
      get(1);
      f.lanes32([2, 6, 3, 7]).i32x4Add().localSet(h);
      get(2);
      get(3);
      f.lanes32([0, 4, 1, 5]);
      get(2);
      get(3);
      f.lanes32([2, 6, 3, 7]).i32x4Add().localSet(m);
      f.localGet(h).localGet(m).lanes32([0, 1, 4, 5]).localGet(h).localGet(m).lanes32([2, 3, 6, 7]).i32x4Add();
    }
    /** The vector of t lanes at local p (4 bytes each, others 0), or of all four. */
    const lanes = (p: number): void => {
      if (t === 4) {
        f.localGet(p).v128Load();
        return;
      }
      f.v128Const0().localSet(tv);
      for (let b = 0; b < t; b++)
        f.localGet(p)
          .i32Const(4 * b)
          .i32Add()
          .localGet(tv)
          .load32Lane(0, b)
          .localSet(tv);
      f.localGet(tv);
    };
    if (kind === "q4_0" || kind === "q5_0") {
      // minus 8 (Q5_0: 16) * each block's sum of activation values
      lanes(psum);
      f.i32Const(kind === "q4_0" ? 3 : 4)
        .i32x4Shl()
        .i32x4Sub();
    }
    /** The t blocks' float16 at byte `at` of each (d, or Q4_1's / Q5_1's min) as float32 lanes. */
    const halves = (at: number): void => blockHalves(f, pw, blockBytes, t, at, { tv, h }, finite);
    f.f32x4ConvertI32x4S();
    // times d_w * d_x, one float32 rounding each
    halves(0);
    lanes(ps);
    f.f32x4Mul().f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
    if (withMin) {
      // Q4_1 / Q5_1: plus each block's min times the activations' s (Q8_1's), as ggml_vec_dot_q4_1_q8_1
      halves(2);
      lanes(ps1);
      f.f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
    }
  };

  const before = (): void => {
    f.localGet(NB).i32Const(3).i32And().localSet(rem);
  };
  rowsLoop(
    f,
    { acc, pw, px: p16, xi, yi, i },
    () => {
      f.localGet(xi).localGet(NB).i32Const(Q8_ROW.int8).i32Mul().i32Add().localSet(p8);
      f.localGet(xi).localGet(NB).i32Const(Q8_ROW.scales).i32Mul().i32Add().localSet(ps);
      f.localGet(xi).localGet(NB).i32Const(Q8_ROW.sums).i32Mul().i32Add().localSet(psum);
      f.localGet(xi).localGet(NB).i32Const(Q8_ROW.s1).i32Mul().i32Add().localSet(ps1);
      f.localGet(NB).i32Const(2).i32ShrU().localSet(g);
      f.block().localGet(g).i32Eqz().brIf(0);
      f.loop(); // groups of four blocks
      group(4);
      f.localGet(pw)
        .i32Const(4 * blockBytes)
        .i32Add()
        .localSet(pw);
      f.localGet(p16).i32Const(256).i32Add().localSet(p16);
      f.localGet(p8).i32Const(128).i32Add().localSet(p8);
      f.localGet(ps).i32Const(16).i32Add().localSet(ps);
      f.localGet(psum).i32Const(16).i32Add().localSet(psum);
      f.localGet(ps1).i32Const(16).i32Add().localSet(ps1);
      f.localGet(g).i32Const(1).i32Sub().localTee(g).brIf(0);
      f.end().end();
      // the last nb % 4 blocks
      for (const t of [3, 2, 1]) {
        f.localGet(rem).i32Const(t).i32Eq().if();
        group(t);
        if (t > 1) f.else();
      }
      f.end().end().end();
    },
    { before },
  );
  return {
    name: `gemv_${kind}${finite ? "_finite" : ""}`,
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, v128, v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    body: f,
  };
}

/**
 * `gemv_iq4_nl(w, q, y, n, nb, ldw, m, ldq, ldy, s)`: as gemvQ8's (the plain int16 dot products), a
 * block an iteration: first every block's d_w d_x of the row into scratch s (nb rounded up to four
 * floats, 16-aligned), four blocks' float16 d a vector; then each block's int32 lanes (exact) as
 * float32 times its d_w d_x into the float32 lanes. (Q8_0 took this way too, its eight loads a
 * block having spilled in gemvQ8's groups of four, until gemvQ8 fenced its blocks; IQ4_NL's
 * swizzled levels run as fast either way.)
 */
function gemvQ8Blockwise(kind: "iq4_nl"): FuncDef {
  const [NB, S] = [4, 9];
  const [acc, nib, h, m] = [10, 11, 12, 13];
  const [pw, p16, ps, xi, yi, i, b, pp, pd, rem] = [14, 15, 16, 17, 18, 19, 20, 21, 22, 23];
  const blockBytes = BLOCK_BYTES[kind];
  const f = new Int8Code();
  rowsLoop(f, { acc, pw, px: p16, xi, yi, i }, () => {
    f.localGet(xi).localGet(NB).i32Const(Q8_ROW.scales).i32Mul().i32Add().localSet(ps);
    // d_w d_x, four blocks a vector (the last vector's lanes past nb: whatever follows, never read)
    f.localGet(pw).localSet(pp).localGet(S).localSet(pd).localGet(NB).localSet(rem);
    f.loop();
    blockHalves(f, pp, blockBytes, 4, 0, { tv: h, h });
    f.localGet(ps).v128Load().f32x4Mul().localSet(h);
    f.localGet(pd).localGet(h).v128Store();
    f.localGet(pp)
      .i32Const(4 * blockBytes)
      .i32Add()
      .localSet(pp);
    f.localGet(ps).i32Const(16).i32Add().localSet(ps);
    f.localGet(pd).i32Const(16).i32Add().localSet(pd);
    f.localGet(rem).i32Const(4).i32Sub().localTee(rem).i32Const(0).i32GtS().brIf(0);
    f.end();
    // a block an iteration (the plain int16 path: the int8 activations are not read)
    f.localGet(S).localSet(pd).localGet(NB).localSet(b);
    f.loop();
    blockDot(f, kind, false, { pw, p16, nib, h, m }, 0);
    f.f32x4ConvertI32x4S().localGet(pd).v128Load32Splat().f32x4Mul();
    f.localGet(acc).f32x4Add().localSet(acc);
    f.localGet(pw).i32Const(blockBytes).i32Add().localSet(pw);
    f.localGet(p16).i32Const(64).i32Add().localSet(p16);
    f.localGet(pd).i32Const(4).i32Add().localSet(pd);
    f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
    f.end();
  });
  return {
    name: `gemv_${kind}`,
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    body: f,
  };
}

/** Locals of the loops around a K-quant int8 GEMV's super-block (see superBlockRows). */
interface SuperBlockLocals {
  /** the output's float32 lanes; the weight row's, int16 activations', bsums' and d_x's read positions */
  readonly acc: number;
  readonly pw: number;
  readonly p16: number;
  readonly pb: number;
  readonly pd: number;
  /** super-blocks left, the activation row, the output for it, activation rows left */
  readonly b: number;
  readonly xi: number;
  readonly yi: number;
  readonly i: number;
}

/**
 * The loops of the K-quant int8 GEMVs (rowsLoop's, over Q8_K activation rows: int16 values, bsums,
 * d), then super-blocks, `superBlock` emitting one
 * (reading pw, p16, pb, pd, adding into acc), after which pw moves on by blockBytes and the Q8_K
 * pointers by one super-block; each output is acc's lanes added pairwise.
 */
function superBlockRows(f: Int8Code, l: SuperBlockLocals, blockBytes: number, superBlock: () => void): void {
  const NB = 4;
  const row = { acc: l.acc, pw: l.pw, px: l.p16, xi: l.xi, yi: l.yi, i: l.i };
  rowsLoop(f, row, () => {
    f.localGet(l.xi).localGet(NB).i32Const(Q8K_ROW.sums).i32Mul().i32Add().localSet(l.pb);
    f.localGet(l.xi).localGet(NB).i32Const(Q8K_ROW.scales).i32Mul().i32Add().localSet(l.pd);
    f.localGet(NB).localSet(l.b);
    f.loop(); // super-blocks
    superBlock();
    f.localGet(l.pw).i32Const(blockBytes).i32Add().localSet(l.pw);
    f.localGet(l.p16).i32Const(Q8K_ROW.values).i32Add().localSet(l.p16);
    f.localGet(l.pb).i32Const(32).i32Add().localSet(l.pb);
    f.localGet(l.pd).i32Const(4).i32Add().localSet(l.pd);
    f.localGet(l.b).i32Const(1).i32Sub().localTee(l.b).brIf(0);
    f.end();
  });
}

/**
 * acc += the sum of local `isum`'s int32 lanes as float32 times d_w * d_x: d_w the float16 at pw + `dAt`,
 * d_x the float32 at pd (`h`, `m` v128 scratch locals).
 */
function addTimesScales(f: Int8Code, l: SuperBlockLocals, isum: number, dAt: number, h: number, m: number): void {
  totalInLaneZero(f, isum, h);
  f.f32x4ConvertI32x4S();
  f.v128Const0().localSet(h);
  f.localGet(l.pw);
  if (dAt !== 0) f.i32Const(dAt).i32Add();
  f.localGet(h).load16Lane(0, 0);
  halfLanes(f, h, m);
  f.f32x4ExtractLane(0).localGet(l.pd).f32Load().f32Mul().f32x4Splat();
  f.f32x4Mul().localGet(l.acc).f32x4Add().localSet(l.acc);
}

/**
 * `gemv_q6_k(w, q, y, n, nb, ldw, m, ldq, ldy)`: Q6_K weight rows (210-byte super-blocks: 128 bytes
 * of low nibbles, 64 of high bit pairs, 16 int8 scales, float16 d) times Q8_K rows, as ggml's
 * vec_dot_q6_K_q8_K: per super-block, sum over its 16 groups of scale * (q6 . q8) (q6 in 0-63, int32
 * lanes, exact), less 32 * sum of scale * bsum (the offset of 32), then the lanes' total as float32
 * times d_w * d_x into the float32 lanes (addTimesScales).
 */
function gemvQ6K(relaxed: boolean): FuncDef {
  const [acc, isum, ql, ql2, qh, q, h, m] = [9, 10, 11, 12, 13, 14, 15, 16];
  const [pw, p16, pb, pd, b, xi, yi, i] = [17, 18, 19, 20, 21, 22, 23, 24];
  const [hw, hh, hs, hx, c, sc] = [25, 26, 27, 28, 29, 30];
  const f = new Int8Code();
  const l: SuperBlockLocals = { acc, pw, p16, pb, pd, b, xi, yi, i };
  superBlockRows(f, l, 210, () => {
    // the offset of 32: -32 * sum of scale * bsum, to start the int32 lanes from
    f.localGet(pw).loadAny(192).localTee(q).i16x8ExtendLowI8x16S().localGet(pb).v128Load().i32x4DotI16x8S();
    f.localGet(q).i16x8ExtendHighI8x16S().localGet(pb).v128Load(16).i32x4DotI16x8S().i32x4Add();
    f.i32Const(5).i32x4Shl().localSet(h);
    f.v128Const0().localGet(h).i32x4Sub().localSet(isum);
    // the two halves of 128 values a loop, not unrolled: V8 loads every vector of a loop body at its
    // top, and the whole super-block's spilled a third of them to the stack (the same sums: each
    // half's groups in the same order)
    f.localGet(pw).localSet(hw);
    f.localGet(pw).i32Const(128).i32Add().localSet(hh);
    f.localGet(pw).i32Const(192).i32Add().localSet(hs);
    f.localGet(p16).localSet(hx);
    f.i32Const(2).localSet(c);
    f.loop();
    for (let lhalf = 0; lhalf < 2; lhalf++) {
      const l = 16 * lhalf;
      f.localGet(hw).loadAny(l).localSet(ql);
      f.localGet(hw)
        .loadAny(32 + l)
        .localSet(ql2);
      f.localGet(hh).loadAny(l).localSet(qh);
      // relaxed: the half's eight int8 scales as int16 lanes, each group's splat by one swizzle
      // (a scalar load, move and broadcast a group before)
      if (relaxed && lhalf === 0) f.localGet(hs).load8x8S().localSet(sc);
      for (let k = 0; k < 4; k++) {
        const sub = 2 * k + lhalf; // which 16 values of the half: x at 32 sub bytes, scale sub
        f.q6kGroup(k, ql, ql2, qh);
        const scale = (): void => {
          f.localGet(hs).i32Load8S(sub);
        };
        if (relaxed) scaledSixteenRelaxed(f, q, hx, 16 * sub, () => f.localGet(sc).bytesConst(splatLaneAs16(sub)).swizzle());
        else {
          f.localTee(q)
            .i16x8ExtendLowI8x16U()
            .localGet(hx)
            .v128Load(32 * sub)
            .i32x4DotI16x8S();
          f.localGet(q)
            .i16x8ExtendHighI8x16U()
            .localGet(hx)
            .v128Load(32 * sub + 16)
            .i32x4DotI16x8S()
            .i32x4Add();
          scale();
          f.i32x4Splat().i32x4Mul();
        }
        f.localGet(isum).i32x4Add().localSet(isum);
      }
    }
    f.localGet(hw).i32Const(64).i32Add().localSet(hw);
    f.localGet(hh).i32Const(32).i32Add().localSet(hh);
    f.localGet(hs).i32Const(8).i32Add().localSet(hs);
    f.localGet(hx)
      .i32Const(relaxed ? 128 : 256)
      .i32Add()
      .localSet(hx);
    f.localGet(c).i32Const(1).i32Sub().localTee(c).brIf(0);
    f.end();
    addTimesScales(f, l, isum, 208, h, m);
  });
  return {
    name: "gemv_q6_k",
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, v128],
    body: f,
  };
}

/**
 * `gemv_q4_k(w, q, y, n, nb, ldw, m, ldq, ldy)`: Q4_K weight rows (144-byte super-blocks: float16 d
 * and dmin, 12 bytes of 6-bit scales and mins for 8 groups of 32, 128 bytes of nibbles) times Q8_K
 * rows, as ggml's vec_dot_q4_K_q8_K: per super-block, int32 lanes of sum over groups of scale *
 * (q4 . q8), and an int32 sum over groups of min * (the group's two bsums); the lanes' total as
 * float32 times d_w * d_x into lane 0 of the float32 sums, the mins' total times -dmin_w * d_x into
 * lane 2 (the output, (l0 + l1) + (l2 + l3), is their difference). `gemv_q5_k`: the same over Q5_K rows (176 bytes: 32 bytes of fifth bits before the
 * nibbles, bit j of byte l giving 16 to value l % 32 of group j), as ggml's vec_dot_q5_K_q8_K.
 */
function gemvScaleMin(dtype: "q4_k" | "q5_k", relaxed: boolean): FuncDef {
  const [acc, isum, h, m, sm, qh0, qh1, nib] = [9, 10, 11, 12, 21, 22, 23, 24];
  const [pw, p16, pb, pd, b, xi, yi, i] = [13, 14, 15, 16, 17, 18, 19, 20];
  const [pn, px, c] = [25, 26, 27];
  const fifth = dtype === "q5_k";
  const f = new Int8Code();
  superBlockRows(f, { acc, pw, p16, pb, pd, b, xi, yi, i }, fifth ? 176 : 144, () => {
    // the eight groups' 6-bit scales and mins, bytes [sc0..sc7, m0..m7] (SIMD: one scalar
    // decode a group was as many instructions as the group's dot product)
    scalesAndMinsK4(f, pw, sm, h);
    // mins . bsums: each group's min times its two bsums, exact in int32 (|sum| < 2^22), in h's lanes
    f.localGet(pb).v128Load().localGet(sm).bytesConst(MINS_BY_BSUM[0]).swizzle().i32x4DotI16x8S();
    f.localGet(pb).v128Load(16).localGet(sm).bytesConst(MINS_BY_BSUM[1]).swizzle().i32x4DotI16x8S().i32x4Add().localSet(h);
    f.v128Const0().localSet(isum);
    if (fifth) {
      f.localGet(pw).loadAny(16).localSet(qh0);
      f.localGet(pw).loadAny(32).localSet(qh1);
    }
    // the groups two a loop iteration (the low and high nibbles of 32 bytes), not unrolled: V8
    // loads every vector of a loop body at its top, and the whole super-block's spilled most of
    // them to the stack; the pair's scales are bytes 0 and 1 of sm, which moves on by two, and
    // Q5_K's fifth bits bits 0 and 1 of qh0 / qh1, which move on by two
    f.localGet(pw)
      .i32Const(fifth ? 48 : 16)
      .i32Add()
      .localSet(pn);
    f.localGet(p16)
      .i32Const(relaxed ? Q8K_ROW.int8 : 0)
      .i32Add()
      .localSet(px);
    f.i32Const(4).localSet(c);
    f.loop();
    for (let j = 0; j < 2; j++) {
      const high = j === 1;
      for (let half = 0; half < 2; half++) {
        // the levels (0-15, Q5_K's 0-31) as relaxed SIMD's 7-bit operand, after the activations
        if (relaxed) f.localGet(px).v128Load(32 * j + 16 * half);
        f.localGet(pn).loadAny(16 * half);
        if (high) f.bytesShrU(4);
        else f.constBytes(0x0f).v128And();
        if (fifth) f.fifthBit(half === 0 ? qh0 : qh1, j).v128Or();
        if (relaxed) {
          // int16 lanes: |sum| <= 4 * 127 * 31, so the two halves add as int16
          f.i16x8RelaxedDotI8x16I7x16S();
          if (half > 0) f.i16x8Add();
          continue;
        }
        f.localTee(nib)
          .i16x8ExtendLowI8x16U()
          .localGet(px)
          .v128Load(64 * j + 32 * half)
          .i32x4DotI16x8S();
        if (half > 0) f.i32x4Add();
        f.localGet(nib)
          .i16x8ExtendHighI8x16U()
          .localGet(px)
          .v128Load(64 * j + 32 * half + 16)
          .i32x4DotI16x8S()
          .i32x4Add();
      }
      // times the group's scale, in every lane (relaxed: the int16 pair sums by one int16 dot product)
      f.localGet(sm)
        .bytesConst(relaxed ? splatByteAs16(j) : splatByteAs32(j))
        .swizzle();
      if (relaxed) f.i32x4DotI16x8S();
      else f.i32x4Mul();
      f.localGet(isum).i32x4Add().localSet(isum);
    }
    // (bytes 2.. of sm then zeros: a byte shift V8 takes as one palignr)
    f.localGet(sm).v128Const0().shuffle([2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17]).localSet(sm);
    if (fifth) {
      f.localGet(qh0).bytesShrU(2).localSet(qh0);
      f.localGet(qh1).bytesShrU(2).localSet(qh1);
    }
    f.localGet(pn).i32Const(32).i32Add().localSet(pn);
    f.localGet(px)
      .i32Const(relaxed ? 64 : 128)
      .i32Add()
      .localSet(px);
    f.localGet(c).i32Const(1).i32Sub().localTee(c).brIf(0);
    f.end();
    // [S, S, M, M] as float32: S the total of isum's lanes, M of the mins' (both exact, so how a
    // kernel spread them over lanes changes no bit)
    f.localGet(isum).localGet(h).lanes32([0, 1, 4, 5]).localGet(isum).localGet(h).lanes32([2, 3, 6, 7]).i32x4Add().localTee(m);
    f.localGet(m).localGet(m).lanes32([1, 0, 3, 2]).i32x4Add().f32x4ConvertI32x4S().localSet(m);
    // times [d, 0, -dmin, 0] d_x (d in lane 0, dmin's half with its sign flipped in lane 2), into
    // acc: lane 0 takes S d d_x a super-block, lane 2 -M dmin d_x, each as the scalar sums took
    // them (the row's output (l0 + l1) + (l2 + l3) is then their difference, as before)
    f.v128Const0().localSet(h);
    f.localGet(pw).localGet(h).load16Lane(0, 0).localSet(h);
    f.localGet(pw).i32Const(2).i32Add().localGet(h).load16Lane(0, 4);
    f.bytesConst(DMIN_SIGN).v128Xor();
    halfLanes(f, h, nib);
    f.localGet(pd).f32Load().f32x4Splat().f32x4Mul();
    f.localGet(m).f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
  });
  return {
    name: `gemv_${dtype}`,
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    // v128 9-12, i32 13-20, v128 21-24, i32 25-27
    locals: [v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, v128, v128, v128, v128, i32, i32, i32],
    body: f,
  };
}

/** Flips the sign of the float16 in 16-bit lane 4 (i32 lane 2: Q4_K's / Q5_K's dmin in gemvScaleMin). */
const DMIN_SIGN = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 0];

/** Swizzle indices that give byte `j` of a vector in every int16 lane (its high bytes 0: index 0x80 is past 15). */
function splatByteAs16(j: number): number[] {
  return Array.from({ length: 16 }, (_, k) => (k % 2 === 0 ? j : 0x80));
}

/** Swizzle indices that give byte `j` of a vector in every int32 lane. */
function splatByteAs32(j: number): number[] {
  return Array.from({ length: 16 }, (_, k) => (k % 4 === 0 ? j : 0x80));
}

/**
 * Swizzle indices over [sc0..sc7, m0..m7] that give, for the bsums of groups 0-3 (int16 lanes
 * 0-7: two a group) and of groups 4-7, each lane its group's min as an int16.
 */
const MINS_BY_BSUM = [0, 1].map((hi) => Array.from({ length: 16 }, (_, k) => (k % 2 === 0 ? 8 + 4 * hi + (k >> 2) : 0x80)));

/**
 * Q4_K's / Q5_K's eight 6-bit scales and mins (ggml's get_scale_min_k4 over the 12 bytes at
 * local pw + 4) into local `sm` as bytes [sc0..sc7, m0..m7]: for j < 4, sc_j = q[j] & 63 and
 * m_j = q[j + 4] & 63; for j >= 4, sc_j = (q[j + 4] & 15) | (q[j - 4] >> 6) << 4 and
 * m_j = q[j + 4] >> 4 | (q[j] >> 6) << 4. `t`: a v128 scratch local.
 */
function scalesAndMinsK4(f: Int8Code, pw: number, sm: number, t: number): void {
  // v = q[0..15] (12 of them the scales'); the low parts: [q0-3 & 63, q8-11 & 15, q4-7 & 63, q8-11 >> 4]
  f.localGet(pw).loadAny(4).localTee(t);
  f.bytesConst([0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 8, 9, 10, 11]).swizzle().localTee(sm);
  f.bytesConst([63, 63, 63, 63, 15, 15, 15, 15, 63, 63, 63, 63, 0, 0, 0, 0]).v128And();
  f.localGet(sm).bytesShrU(4).bytesConst([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 15, 15, 15, 15]).v128And().v128Or();
  // the high parts of scales and mins 4-7: the top two bits of q0-3 and q4-7, moved to bits 4-5
  // (a 16-bit shift by 2: what crosses from the next byte lands in bits 6-7, masked off)
  f.localGet(t).bytesConst([0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 4, 5, 6, 7]).swizzle();
  f.i32Const(2).i16x8ShrU().bytesConst([0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30, 0, 0, 0, 0, 0x30, 0x30, 0x30, 0x30]).v128And();
  f.v128Or().localSet(sm);
}

/**
 * With relaxed SIMD: the 16 levels (0-127) on the stack, kept in local `lv`, dotted with the 16 int8
 * activations at p16 + Q8K_ROW.int8 + `offset` (int16 pair sums, |sum| <= 2 * 127 * 127), times the
 * scale that `splat` pushes in every int16 lane (|scale| < 2^15) by one int16 dot product: int32
 * lanes summing to scale x the group's dot product, as dotSixteen followed by a multiply.
 */
function scaledSixteenRelaxed(f: Int8Code, lv: number, p16: number, offset: number, splat: () => void): void {
  f.localSet(lv)
    .localGet(p16)
    .v128Load(Q8K_ROW.int8 + offset)
    .localGet(lv);
  f.i16x8RelaxedDotI8x16I7x16S();
  splat();
  f.i32x4DotI16x8S();
}

/** Swizzle indices that give int16 lane `j` of a vector in every int16 lane. */
function splatLaneAs16(j: number): number[] {
  return Array.from({ length: 16 }, (_, k) => 2 * j + (k & 1));
}

/**
 * The int32 lanes of local `v` summed (exactly) into lane 0, the others 0, on the stack (`t`: a v128
 * scratch local): a super-block's integer sum is converted to float32 once, so how a kernel spread
 * it over lanes (relaxed SIMD's int8 dot product or plain SIMD's int16 one) changes no bit.
 */
function totalInLaneZero(f: Int8Code, v: number, t: number): void {
  f.localGet(v).localGet(v).lanes32([2, 3, 0, 1]).localGet(v).i32x4Add().localTee(t);
  f.localGet(t).localGet(t).lanes32([1, 0, 3, 2]).i32x4Add();
  f.bytesConst(LANE_ZERO).v128And();
}

/** A v128 mask of lane 0's 32 bits. */
const LANE_ZERO = [255, 255, 255, 255, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/**
 * Pushes the i32x4 lanes summing to the dot product of the 16 int8 levels on the stack (kept in
 * local `lv`) with the 16 int16 activations at local p16 + offset.
 */
function dotSixteen(f: Int8Code, lv: number, p16: number, offset: number): void {
  f.localTee(lv).i16x8ExtendLowI8x16S().localGet(p16).v128Load(offset).i32x4DotI16x8S();
  f.localGet(lv)
    .i16x8ExtendHighI8x16S()
    .localGet(p16)
    .v128Load(offset + 16)
    .i32x4DotI16x8S()
    .i32x4Add();
}

/**
 * `gemv_q3_k` / `gemv_q2_k(w, q, y, n, nb, ldw, m, ldq, ldy)`: Q3_K rows (110-byte super-blocks: 32
 * bytes of third bits, 64 of 2-bit quants, 12 of sixteen 6-bit scales, float16 d) or Q2_K rows
 * (84 bytes: 16 of 4-bit scales (low) and mins (high), the 64 of 2-bit quants, float16 d and dmin)
 * times Q8_K rows, as ggml's vec_dot_q3_K_q8_K / vec_dot_q2_K_q8_K: per group of 16, its levels
 * (Q3_K: -4..3, the two low bits and 4 less unless the third bit is set; Q2_K: 0..3) . the int16
 * activations, times the group's scale (Q3_K: less 32), summed in int32 lanes; the lanes' total as
 * float32 times d_w d_x into the float32 lanes; Q2_K less dmin_w d_x times its mins . the Q8_K row's bsums.
 */
function gemvLowBitK(kind: "q2_k" | "q3_k", relaxed: boolean): FuncDef {
  const [acc, isum, h, m, lv, mins] = [9, 10, 11, 12, 13, 14];
  const [pw, p16, pb, pd, b, xi, yi, i] = [15, 16, 17, 18, 19, 20, 21, 22];
  const qs = [23, 24, 25, 26];
  const hm = [27, 28];
  const [sc0, sc1, corr] = [29, 30, 31];
  const q3 = kind === "q3_k";
  const f = new Int8Code();
  const l: SuperBlockLocals = { acc, pw, p16, pb, pd, b, xi, yi, i };
  superBlockRows(f, l, q3 ? 110 : 84, () => {
    f.v128Const0().localSet(isum);
    // the 64 bytes of quants (and Q3_K's 32 of third bits), loaded once a super-block
    for (let k = 0; k < 4; k++)
      f.localGet(pw)
        .loadAny((q3 ? 32 : 16) + 16 * k)
        .localSet(qs[k]!);
    if (q3)
      for (let k = 0; k < 2; k++)
        f.localGet(pw)
          .loadAny(16 * k)
          .localSet(hm[k]!);
    // the sixteen groups' scales, once a super-block (SIMD, where a scalar decode a group was as long
    // as the group's dot product): Q3_K's 6-bit ones less 32 as int16 lanes (groups 0-7 in sc0,
    // 8-15 in sc1), Q2_K's 4-bit ones as bytes in sc0. Plain SIMD's Q3_K keeps the scalar decode:
    // its int32 splat of a signed scale takes two vector operations, and with the vector units the
    // bottleneck the scalar one ran beside them (7.6-8.0 G weights/s against 6.2-7.3)
    if (q3 && relaxed) q3kScales(f, pw, sc0, sc1, h);
    if (!q3) f.localGet(pw).loadAny(0).constBytes(0x0f).v128And().localSet(sc0);
    /** Group g's scale in every int16 lane (relaxed) or int32 lane (plain), onto the stack. */
    const scale = (g: number): void => {
      if (!q3)
        f.localGet(sc0)
          .bytesConst(relaxed ? splatByteAs16(g) : splatByteAs32(g))
          .swizzle();
      else if (relaxed)
        f.localGet(g < 8 ? sc0 : sc1)
          .bytesConst(splatLaneAs16(g & 7))
          .swizzle();
      else f.q3kScale(pw, g).i32x4Splat();
    };
    // relaxed SIMD's 7-bit operand: Q2_K's levels (0-3), and Q3_K's (-4-3) plus 4, the 4 taken off
    // the lanes as 4 x the scales . the bsums (two int16 dot products, exact)
    if (relaxed && q3) {
      f.localGet(sc0).localGet(pb).v128Load().i32x4DotI16x8S();
      f.localGet(sc1).localGet(pb).v128Load(16).i32x4DotI16x8S().i32x4Add();
      f.i32Const(2).i32x4Shl().localSet(corr);
    }
    for (let g = 0; g < 16; g++) {
      f.lowBitGroup(qs[2 * (g >> 3) + (g & 1)]!, g, q3 ? hm[g & 1]! : undefined, !relaxed);
      if (relaxed) scaledSixteenRelaxed(f, lv, p16, 16 * g, () => scale(g));
      else {
        dotSixteen(f, lv, p16, 32 * g);
        scale(g);
        f.i32x4Mul();
      }
      f.localGet(isum).i32x4Add().localSet(isum);
    }
    if (relaxed && q3) f.localGet(isum).localGet(corr).i32x4Sub().localSet(isum);
    addTimesScales(f, l, isum, q3 ? 108 : 80, h, m);
    if (q3) return;
    // less the mins: the 16 4-bit mins . the 16 bsums (int16), negated, times dmin_w d_x
    f.localGet(pw).loadAny(0).bytesShrU(4);
    dotSixteen(f, mins, pb, 0);
    f.localSet(mins);
    f.v128Const0().localGet(mins).i32x4Sub().localSet(mins);
    addTimesScales(f, l, mins, 82, h, m);
  });
  return {
    name: `gemv_${kind}`,
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [
      v128,
      v128,
      v128,
      v128,
      v128,
      v128,
      i32,
      i32,
      i32,
      i32,
      i32,
      i32,
      i32,
      i32,
      v128,
      v128,
      v128,
      v128,
      v128,
      v128,
      v128,
      v128,
      v128,
    ],
    body: f,
  };
}

/**
 * Q3_K's sixteen 6-bit scales less 32 (ggml's unpacking of its 12 bytes at local pw + 96: group g's
 * low four bits are the low (g < 8) or high nibble of byte g & 7, its high two bits bits 2 (g >> 2)
 * of byte 8 + (g & 3)) as int16 lanes, groups 0-7 into local `lo` and 8-15 into `hi`; `t` a v128
 * scratch. The 16 bytes are read from pw + 94, the block's last, so nothing past it is read.
 */
function q3kScales(f: Int8Code, pw: number, lo: number, hi: number, t: number): void {
  const at = (byte: number): number => byte + 2; // the load starts two bytes before the scales
  f.localGet(pw).loadAny(94).localSet(t);
  // low four bits: nibbles of bytes 0-7, low ones for groups 0-7 and high ones for 8-15
  f.localGet(t)
    .bytesConst([...Array.from({ length: 8 }, (_, g) => at(g)), ...Array.from({ length: 8 }, (_, g) => at(g))])
    .swizzle()
    .localTee(lo);
  f.bytesConst([...new Array<number>(8).fill(15), ...new Array<number>(8).fill(0)]).v128And();
  f.localGet(lo)
    .bytesShrU(4)
    .bytesConst([...new Array<number>(8).fill(0), ...new Array<number>(8).fill(15)])
    .v128And()
    .v128Or();
  // high two bits: byte 8 + (g & 3) shifted so that its bits 2 (g >> 2) land at bits 4-5 (a 16-bit
  // shift: what crosses from the next byte is masked off)
  f.localGet(t)
    .bytesConst(Array.from({ length: 16 }, (_, g) => at(8 + (g & 3))))
    .swizzle()
    .localSet(hi);
  const quarter = (q: number): number[] => Array.from({ length: 16 }, (_, g) => (g >> 2 === q ? 0x30 : 0));
  f.localGet(hi).i32Const(4).i16x8Shl().bytesConst(quarter(0)).v128And().v128Or();
  f.localGet(hi).i32Const(2).i16x8Shl().bytesConst(quarter(1)).v128And().v128Or();
  f.localGet(hi).bytesConst(quarter(2)).v128And().v128Or();
  f.localGet(hi).i32Const(2).i16x8ShrU().bytesConst(quarter(3)).v128And().v128Or();
  f.constBytes(32).i8x16Sub().localTee(t);
  f.i16x8ExtendLowI8x16S().localSet(lo);
  f.localGet(t).i16x8ExtendHighI8x16S().localSet(hi);
}

/**
 * `gemv_iq4_xs(w, q, y, n, nb, ldw, m, ldq, ldy)`: IQ4_XS weight rows (136-byte super-blocks:
 * float16 d, the high two bits of eight 6-bit scales in a u16, their low four bits in 4 bytes, eight
 * 16-byte nibble blocks) times Q8_K rows, as ggml's vec_dot_iq4_xs_q8_K: per sub-block of 32, its
 * nibbles looked up as signed levels (i8x16.swizzle) . the int16 activations, times the scale - 32,
 * in int32 lanes; the lanes' total as float32 times d_w * d_x into the float32 lanes.
 */
function gemvIQ4XS(): FuncDef {
  const [acc, isum, h, m, nib] = [9, 10, 11, 12, 13];
  const [pw, p16, pb, pd, b, xi, yi, i, hs] = [14, 15, 16, 17, 18, 19, 20, 21, 22];
  const [pn, px, psl, c] = [23, 24, 25, 26];
  const f = new Int8Code();
  const levels = IQ4_VALUES.map((v) => v & 0xff);
  const l: SuperBlockLocals = { acc, pw, p16, pb, pd, b, xi, yi, i };
  superBlockRows(f, l, 136, () => {
    f.v128Const0().localSet(isum);
    f.localGet(pw).i32Load16U(2).localSet(hs);
    // the sub-blocks two a loop iteration, not unrolled (V8 loaded the whole super-block's vectors
    // at the loop's top and spilled them): sub-block 2p + jj takes nibble bytes at pn + 16 jj, its
    // scale's low bits from byte psl (low nibble, then high) and high bits from hs (bits 0-1, then
    // 2-3), which move on by a byte and four bits
    f.localGet(pw).i32Const(8).i32Add().localSet(pn);
    f.localGet(p16).localSet(px);
    f.localGet(pw).i32Const(4).i32Add().localSet(psl);
    f.i32Const(4).localSet(c);
    f.loop();
    for (let jj = 0; jj < 2; jj++) {
      f.localGet(pn)
        .loadAny(16 * jj)
        .localSet(nib);
      // values 0-15 (low nibbles) then 16-31 (high), each as its level, . the activations
      for (let part = 0; part < 4; part++) {
        f.bytesConst(levels).localGet(nib);
        if (part >= 2) f.bytesShrU(4);
        else f.constBytes(0x0f).v128And();
        f.swizzle();
        if (part % 2 === 0) f.i16x8ExtendLowI8x16S();
        else f.i16x8ExtendHighI8x16S();
        f.localGet(px)
          .v128Load(64 * jj + 16 * part)
          .i32x4DotI16x8S();
        if (part > 0) f.i32x4Add();
      }
      // times the sub-block's scale less 32
      f.localGet(psl).i32Load8U();
      if (jj === 1) f.i32Const(4).i32ShrU();
      f.i32Const(15).i32And();
      f.localGet(hs);
      if (jj === 1) f.i32Const(2).i32ShrU();
      f.i32Const(3).i32And().i32Const(4).i32Shl().i32Or().i32Const(32).i32Sub();
      f.i32x4Splat().i32x4Mul().localGet(isum).i32x4Add().localSet(isum);
    }
    f.localGet(pn).i32Const(32).i32Add().localSet(pn);
    f.localGet(px).i32Const(128).i32Add().localSet(px);
    f.localGet(psl).i32Const(1).i32Add().localSet(psl);
    f.localGet(hs).i32Const(4).i32ShrU().localSet(hs);
    f.localGet(c).i32Const(1).i32Sub().localTee(c).brIf(0);
    f.end();
    addTimesScales(f, l, isum, 0, h, m);
  });
  return {
    name: "gemv_iq4_xs",
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    body: f,
  };
}

/**
 * `gemv_<lattice type>(w, q, y, n, nb, ldw, m, ldq, ldy, grid)`: IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS,
 * IQ3_S, IQ1_S, IQ1_M rows (lattice_code.ts, the table at grid) times Q8_K rows, as ggml's
 * vec_dot_iq*_q8_K: per super-block, the sum over its scales' groups of k (levels . q8) (levels with
 * their signs, IQ1's 8 times larger with the shift; int32 lanes, exact), then the int32 lanes as
 * float32 times d_w d_x and the type's power of two (LATTICE_FACTOR).
 */
function gemvLattice(kind: LatticeDType): FuncDef {
  const GRID = 9;
  const [acc, isum, sub, v, m] = [10, 11, 12, 13, 14];
  const [pw, p16, pb, pd, b, xi, yi, i, a, bb, aux] = [15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
  const f = new Int8Code();
  const l: SuperBlockLocals = { acc, pw, p16, pb, pd, b, xi, yi, i };
  const lattice = { pw, grid: GRID, a, b: bb, v, m, aux };
  const sixteen = scalePerSixteen(kind);
  superBlockRows(f, l, QUANT_BLOCKS[kind].bytes, () => {
    f.v128Const0().localSet(isum);
    for (let j = 0; j < 8; j++) {
      latticeSubBlock(f, kind, lattice, j);
      for (let g = 0; g < 2; g++) {
        // the 16 levels . the 16 int16 activations
        latticeLevels(f, kind, lattice, j, g);
        dotSixteen(f, sub, p16, 2 * (32 * j + 16 * g));
        if (g === 1 && !sixteen) f.i32x4Add();
        if (g === 0 && !sixteen) continue;
        latticeIntScale(f, kind, lattice, j, g);
        f.i32x4Splat().i32x4Mul().localGet(isum).i32x4Add().localSet(isum);
      }
    }
    // acc += float(isum) d_w d_x factor
    latticeD(f, kind, lattice);
    f.localGet(pd).f32Load().f32Mul();
    if (LATTICE_FACTOR[kind] !== 1) f.f32Const(LATTICE_FACTOR[kind]).f32Mul();
    f.f32x4Splat().localGet(isum).f32x4ConvertI32x4S().f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
  });
  return {
    name: `gemv_${kind}`,
    params: [i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32, i32],
    body: f,
  };
}

/**
 * Whether this engine's i16x8.relaxed_dot_i8x16_i7x16_s is the exact int8 dot product of byte pairs
 * (a signed, b in 0-127), tried once on known values before a kernel relies on it: the relaxed
 * SIMD spec leaves b's top bit (and so the operand order) to the engine, and Node 20's V8 got its
 * sibling i32x4.relaxed_dot_i8x16_i7x16_add_s wrong (twice the sum, the accumulator dropped).
 */
export function exactRelaxedDot(): boolean {
  if (exact !== undefined) return exact;
  exact = false;
  try {
    const f = new Int8Code();
    // lanes: -3 * 5 + -3 * 5 = -30, and at the ends of the range -128 * 127 * 2 = -32512
    f.i32Const(0).constBytes(0xfd).constBytes(5).i16x8RelaxedDotI8x16I7x16S().v128Store();
    f.i32Const(16).constBytes(0x80).constBytes(127).i16x8RelaxedDotI8x16I7x16S().v128Store();
    const api = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
    const memory = new api.Memory({ initial: 1 });
    const module = new api.Module(emitModule([{ name: "probe", params: [], locals: [], body: f }]));
    (new api.Instance(module, { env: { memory } }).exports.probe as () => void)();
    const lanes = new Int16Array(memory.buffer, 0, 16);
    exact = lanes.every((v, i) => v === (i < 8 ? -30 : -32512));
  } catch {
    exact = false;
  }
  return exact;
}
let exact: boolean | undefined;

interface WasmApi {
  Memory: new (d: { initial: number }) => { buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/**
 * The module's functions; with `relaxed` (and an exact relaxed int8 dot product, see exactRelaxedDot),
 * the block dot products of the types whose levels are unsigned (Q4_0, Q5_0, Q4_1, Q5_1, Q6_K, Q4_K,
 * Q5_K, Q2_K) use relaxed SIMD's int8 one (the same integer sums, so the same results).
 */
export function q8GemvFunctions(relaxed: boolean): FuncDef[] {
  const dot = relaxed && exactRelaxedDot();
  return [
    quantizeQ8_0(),
    gemvQ8("q8_0", dot),
    gemvQ8("q4_0", dot),
    quantizeQ8K(),
    gemvQ6K(dot),
    gemvScaleMin("q4_k", dot),
    gemvScaleMin("q5_k", dot),
    gemvQ8Blockwise("iq4_nl"),
    gemvLowBitK("q3_k", dot),
    gemvIQ4XS(),
    ...LATTICE_DTYPES.map(gemvLattice),
    gemvLowBitK("q2_k", dot),
    gemvQ8("q5_0", dot),
    gemvQ8("q4_1", dot),
    gemvQ8("q5_1", dot),
    ...FINITE_SCALE_KINDS.map((kind) => gemvQ8(kind, dot, true)),
  ];
}
