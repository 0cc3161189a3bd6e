import { countdown, bump } from "./builder.js";
import { f32, i32, v128, type FuncDef, type ValType } from "./encoder.js";
import { IQ4_VALUES } from "../../quant/iq4.js";
import { rowsLoop, StoredCode, type RowLocals } from "./gemv_stored_module.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { LATTICE_DTYPES, latticeD, latticeLevels, latticeScale, latticeSubBlock, type LatticeDType } from "./lattice_code.js";

/**
 * The stored-weight GEMV of gemv_stored_module.ts for the resident heap: the weight is read where
 * it lives (block scales decoded from the blocks, nothing staged), so one call can take any range
 * of the weight's rows, and threads split the rows between them. Each function computes, for n
 * rows r of W [., K] (ldw bytes apart) and m activation rows i (ldx bytes apart),
 * y[i * ldy + 4 r] = W[r, :] . x_i, with the same operations in the same order as the staged
 * kernels (so the same bits):
 *  - `gemv_q8_0 / gemv_q4_0 / gemv_q5_0(w, x, y, n, nb, ldw, m, ldx, ldy)`: nb blocks a row;
 *  - `gemv_q4_1 / gemv_q5_1(...)`: the same, blocks with a min (see gemvMinBlocks: held to float64);
 *  - `gemv_q6_k(w, x, y, n, nb, ldw, m, ldx, ldy, s)`: nb super-blocks a row, s 64 bytes of
 *    scratch (16-aligned) where each super-block's 16 scales are put as float32;
 *  - `gemv_q4_k / gemv_q5_k(w, x, y, n, nb, ldw, m, ldx, ldy, s)`: the same for Q4_K and Q5_K
 *    (see gemvScaleMin: their values are rounded once more than the JS decoder's, so they match
 *    the JS kernel to a tolerance);
 *  - `gemv_q2_k / gemv_q3_k(w, x, y, n, nb, ldw, m, ldx, ldy, s)`: Q2_K and Q3_K, s 128 bytes of
 *    scratch (see gemvLowBitK: held to float64 too);
 *  - `gemv_iq4_nl(w, x, y, n, nb, ldw, m, ldx, ldy)`, `gemv_iq4_xs(..., s)`: IQ4_NL as Q4_0 with its
 *    nibbles looked up, IQ4_XS (see gemvIQ4XS; s unused); held to float64;
 *  - `gemv_<lattice type>(w, x, y, n, nb, ldw, m, ldx, ldy, s, grid)`: IQ2_XXS, IQ2_XS, IQ2_S,
 *    IQ3_XXS, IQ3_S, IQ1_S, IQ1_M, their table at grid (see gemvLattice; s unused); held to float64;
 *  - `gemv_f16 / gemv_bf16(w, x, y, n, k4, ldw, m, ldx, ldy)`: k4 groups of four halves a row;
 *    `gemv_f16_scaled_paired / gemv_bf16_paired` the same over activations in pairs' order (see
 *    gemvHalf; in both variants, as every export is, and picked only with relaxed SIMD);
 *  - `scale_2p112(x, dst, n)`: gemv_f16_scaled's activations; `scale_2p112_paired`, `pairs_order`:
 *    the paired kernels' (see activationCopy here and in resident/matmul_stored.ts).
 * Addresses and strides in bytes. The block types' functions do not depend on relaxed SIMD (no
 * fused madd): such a weight gives the same result with or without it. The half types' do, as the
 * float32 matrix kernels and a prompt over the same weight do: see gemvHalf.
 */
// biome-ignore format: the opcode methods are a table, one line each
class ResidentStoredCode extends StoredCode {
  load16x4S(offset = 0): this { return this.transformLoad(0x03, offset); }
  i32x4AllTrue(): this { return this.simdOp(0xa3); }
}

/** Byte lanes interleaved with a second vector's: low (0-7) or high (8-15) halves (punpck*bw). */
const BYTES_LOW = [0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23];
const BYTES_HIGH = BYTES_LOW.map((l) => l + 8);
/** 16-bit lanes interleaved with a second vector's: low (0-3) or high (4-7) halves (punpck*wd). */
const WORDS_LOW = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
const WORDS_HIGH = WORDS_LOW.map((l) => l + 8);
/** Float lanes 0, 2, 4, 6 / 1, 3, 5, 7 of two vectors (as bytes). */
const FLOATS_EVEN = [0, 2, 4, 6].flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]);
const FLOATS_ODD = FLOATS_EVEN.map((b) => b + 4);

/**
 * sum += (the 16 unsigned bytes u of local q, each as the float32 u - bias) . x[xOffset ..], four
 * lanes at a time in order (values 0-3, 4-7, 8-11, 12-15) as madd after sign extension adds them.
 * The bytes are interleaved with zeros and then with 0x4b00, giving the float32 2^23 + u, minus
 * 2^23 + bias: exactly u - bias, the value converting the integer gives, in two shuffles (one
 * instruction each on x86) and a subtraction where sign extension and conversion took more.
 * `wide` a v128 scratch local.
 */
function maddBytes(f: ResidentStoredCode, q: number, wide: number, sum: number, px: number, xOffset: number, bias: number): void {
  for (const [bytes, base] of [
    [BYTES_LOW, 0],
    [BYTES_HIGH, 32],
  ] as const) {
    f.localGet(q).v128Const0().shuffle(bytes).localSet(wide);
    for (const [words, off] of [
      [WORDS_LOW, 0],
      [WORDS_HIGH, 16],
    ] as const) {
      f.localGet(wide)
        .i32x4Const(0x4b004b00)
        .shuffle(words)
        .f32x4Const(2 ** 23 + bias)
        .f32x4Sub();
      f.localGet(px)
        .v128Load(xOffset + base + off)
        .f32x4Mul()
        .localGet(sum)
        .f32x4Add()
        .localSet(sum);
    }
  }
}

/**
 * sum += a 32-value block's levels . its activations, from the 16 bytes of nibbles at local pw +
 * `nibblesAt` (values 0-15 low, 16-31 high), each level minus `bias`; with `fifthAt`, the u32 of
 * fifth bits there (Q5_0 / Q5_1) or-ed in; with `table`, each nibble looked up in those 16 bytes
 * (IQ4_NL / IQ4_XS: the levels plus 128) by a byte shuffle. `u`, `t` v128 scratch locals.
 */
function maddNibbleBlock(
  f: ResidentStoredCode,
  pw: number,
  nibblesAt: number,
  fifthAt: number | null,
  u: number,
  t: number,
  sum: number,
  px: number,
  bias: number,
  table?: readonly number[],
): void {
  for (const half of [0, 1] as const) {
    if (table) f.bytesConst(table);
    f.localGet(pw).loadAny(nibblesAt);
    if (half === 1) f.i32Const(4).i16x8ShrU();
    f.constBytes(0x0f).v128And();
    if (fifthAt !== null) f.fifthBitsOfWord(pw, fifthAt, half).v128Or();
    if (table) f.swizzle();
    f.localSet(u);
    maddBytes(f, u, t, sum, px, 64 * half, bias);
  }
}

/** The end of a blocks loop: pw and px on by a block and its activations, b counted down, looping while it is not 0. */
function nextBlock(f: ResidentStoredCode, pw: number, blockBytes: number, px: number, xBytes: number, b: number): void {
  f.localGet(pw).i32Const(blockBytes).i32Add().localSet(pw);
  f.localGet(px).i32Const(xBytes).i32Add().localSet(px);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
}

/**
 * Pushes the float16 at local `addr` + offset as float32 bits (i32), exactly as the JS decoder
 * gives it (StoredCode.halfOf; integer instructions, ports the SIMD loops leave idle, and no
 * vector constants to keep in registers). `h` and `bits` i32 scratch locals.
 */
function halfBits(f: ResidentStoredCode, addr: number, offset: number, h: number, bits: number): void {
  f.localGet(addr).i32Load16U(offset).localSet(h);
  f.halfOf(h, bits);
}

/** The blocks (or groups of four halves) a row: the parameter after w, x, y, n (see rowsLoop). */
const NB = 4;
const PARAMS: ValType[] = [i32, i32, i32, i32, i32, i32, i32, i32, i32];

/** Hands out a function's locals after its parameters, and lists their types for the FuncDef. */
class Locals {
  readonly types: ValType[] = [];
  constructor(private readonly first: number) {}
  add(type: ValType): number {
    this.types.push(type);
    return this.first + this.types.length - 1;
  }
  many(type: ValType, count: number): number[] {
    return Array.from({ length: count }, () => this.add(type));
  }
}

function rowLocals(l: Locals): RowLocals {
  return { acc: l.add(v128), pw: l.add(i32), px: l.add(i32), xi: l.add(i32), yi: l.add(i32), i: l.add(i32) };
}

/**
 * Q8_0 / Q4_0 / Q5_0 / IQ4_NL: a block's 32 values go to its sum in the order the staged kernel's do (four
 * lanes at a time, values 0-3 first), made float32 by maddBytes: Q4_0's nibbles are 8 over the
 * value, Q5_0's (with their fifth bits) 16, Q8_0's int8 get 128 added (their top bit flipped) to be
 * bytes 0..255, IQ4_NL's nibbles looked up as their levels plus 128. The block's float16 scale is
 * decoded by halfBits.
 */
function gemvBlocks(kind: "q8_0" | "q4_0" | "q5_0" | "iq4_nl"): FuncDef {
  const L = new Locals(PARAMS.length);
  const l = rowLocals(L);
  const { pw, px } = l;
  const [blk, t, u] = L.many(v128, 3);
  const [b, h, bits] = L.many(i32, 3);
  const blockBytes = { q8_0: 34, q4_0: 18, q5_0: 22, iq4_nl: 18 }[kind];
  const f = new ResidentStoredCode();
  rowsLoop(f, l, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // blocks
    f.v128Const0().localSet(blk);
    if (kind === "q8_0") {
      for (const half of [0, 1]) {
        f.localGet(pw)
          .loadAny(2 + 16 * half)
          .constBytes(0x80)
          .v128Xor()
          .localSet(u);
        maddBytes(f, u, t, blk, px, 64 * half, 128);
      }
    } else if (kind === "q4_0") {
      maddNibbleBlock(f, pw, 2, null, u, t, blk, px, 8);
    } else if (kind === "iq4_nl") {
      maddNibbleBlock(f, pw, 2, null, u, t, blk, px, 128, IQ4_LEVELS);
    } else {
      maddNibbleBlock(f, pw, 6, 2, u, t, blk, px, 16);
    }
    // acc += block sum * the block's float16 scale (its first two bytes)
    f.localGet(blk);
    halfBits(f, pw, 0, h, bits);
    f.f32ReinterpretI32().f32x4Splat();
    f.f32x4Mul().localGet(l.acc).f32x4Add().localSet(l.acc);
    nextBlock(f, pw, blockBytes, px, 128, b);
  });
  return { name: `gemv_${kind}`, params: PARAMS, locals: L.types, body: f };
}

/**
 * Q4_1 / Q5_1 (20 / 24 bytes: float16 d and m, Q5_1's 32 fifth bits, 16 bytes of nibbles): a
 * block's dot product is d (q . x) + m (sum of x), q . x summed as gemvBlocks sums Q4_0's (the
 * levels 0..31 exact in float32) and the block's activations summed beside it. The same real number
 * as the decoded values (d q + m) times x, rounded differently: held to float64, not to the JS
 * kernel's bits.
 */
function gemvMinBlocks(kind: "q4_1" | "q5_1"): FuncDef {
  const L = new Locals(PARAMS.length);
  const l = rowLocals(L);
  const { pw, px } = l;
  const [blk, xs, t, u] = L.many(v128, 4);
  const [b, h, bits] = L.many(i32, 3);
  const fifth = kind === "q5_1";
  const nibbles = fifth ? 8 : 4;
  const f = new ResidentStoredCode();
  rowsLoop(f, l, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // blocks
    f.v128Const0().localSet(blk);
    maddNibbleBlock(f, pw, nibbles, fifth ? 4 : null, u, t, blk, px, 0);
    f.localGet(px).v128Load(0);
    for (let v = 1; v < 8; v++)
      f.localGet(px)
        .v128Load(16 * v)
        .f32x4Add();
    f.localSet(xs);
    // acc += d (q . x) + m (sum of x)
    f.localGet(blk);
    halfBits(f, pw, 0, h, bits);
    f.f32ReinterpretI32().f32x4Splat().f32x4Mul();
    f.localGet(xs);
    halfBits(f, pw, 2, h, bits);
    f.f32ReinterpretI32().f32x4Splat().f32x4Mul().f32x4Add();
    f.localGet(l.acc).f32x4Add().localSet(l.acc);
    nextBlock(f, pw, fifth ? 24 : 20, px, 128, b);
  });
  return { name: `gemv_${kind}`, params: PARAMS, locals: L.types, body: f };
}

/**
 * `gemv_f16_scaled` reads activations already multiplied by 2^112 (the caller's copy, where every
 * |x| < 2^16 so none overflows): the 2^112 of the half->float decode then moves out of the loop,
 * one multiply in seven fewer a group. Each product is the same real number, w 2^-112 times x 2^112,
 * so the same float: the same bits as gemv_f16.
 *
 * With `fma` (relaxed SIMD) each product is added by one fused multiply-add, as llama.cpp's F16C
 * path does: a rounding and an instruction fewer a group, and on this Zen 5 the one multiply that
 * takes a float32 subnormal without a microcode assist. A float16 subnormal (|w| < 2^-14: 0.24% of
 * weights drawn with standard deviation 0.02) is one once rebased by 2^-112, and the plain
 * multiply's assist for it cost GPT-2's 50257 x 768 head 5.7 ms a call where the same weights
 * without subnormals took 4.2. Fused, the scaled kernel still gives gemv_f16's bits: the same real
 * product, added with one rounding.
 *
 * `paired` (gemv_f16_scaled_paired, gemv_bf16_paired; rows a multiple of 16 long): each 16-byte
 * load is eight halves, decoded in place (see pair) against activations the caller copied in pairs'
 * order, each eight's even ones then its odd ones (`scale_2p112_paired`, `pairs_order`): one load
 * and five operations (bfloat16: two) for eight halves where the widening loads took two loads, two
 * shuffles and four. Sums s0 / s1 take each iteration's first eight's even / odd products, s2 / s3
 * the second eight's: the same products fused in another order than gemv_f16's.
 */
function gemvHalf(kind: "f16" | "bf16", scaledX = false, fma = false, paired = false): FuncDef {
  const L = new Locals(PARAMS.length);
  const l = rowLocals(L);
  const [j, rest] = L.many(i32, 2);
  const halves = paired ? L.add(v128) : -1;
  // four sums a row, one per group of an unrolled iteration: one chain of additions was the bound
  // (the half->float decode is a few operations only); a row's sum is ((s0 + s1) + (s2 + s3)),
  // then the rest of the groups added to it one at a time, as the staged kernel's (dot_f16)
  const sums = [l.acc, ...L.many(v128, 3)];
  const f = new ResidentStoredCode();
  /** sum += the four halves at pw + 8 g, as float32, times x at px + 16 g. */
  const group = (g: number, sum: number): void => {
    if (kind === "bf16") {
      f.localGet(l.pw)
        .load16x4U(8 * g)
        .i32Const(16)
        .i32x4Shl();
    } else {
      // float16 sign-extended to 32 bits, moved up 13: exponent and mantissa land where float32's
      // do (rebased by 2^-112), the sign at bit 31 and its copies at bits 28-30, cleared; then
      // times 2^112: the value, sign included (the JS decoder's for all but infinity and NaN)
      f.localGet(l.pw)
        .load16x4S(8 * g)
        .i32Const(13)
        .i32x4Shl()
        .i32x4Const(0x8fffffff)
        .v128And();
      if (!scaledX) f.f32x4Const(2 ** 112).f32x4Mul();
    }
    f.localGet(l.px).v128Load(16 * g);
    if (fma) f.localGet(sum).f32x4RelaxedMadd().localSet(sum);
    else f.f32x4Mul().localGet(sum).f32x4Add().localSet(sum);
  };
  const advance = (halves: number): void => {
    f.localGet(l.pw)
      .i32Const(2 * halves)
      .i32Add()
      .localSet(l.pw);
    f.localGet(l.px)
      .i32Const(4 * halves)
      .i32Add()
      .localSet(l.px);
  };
  /**
   * sums[2 p] / sums[2 p + 1] += the even / odd halves of the eight at pw + 16 p, as float32, times
   * x at px + 32 p / + 48 p (the caller's copy puts each eight's even activations before its odd):
   * a 32-bit lane holds an even half low and an odd one high, so each is a shift or two and the
   * mask away from float32, with no widening load.
   */
  const pair = (p: number): void => {
    f.localGet(l.pw)
      .v128Load(16 * p)
      .localSet(halves);
    for (const odd of [false, true]) {
      f.localGet(halves);
      if (!odd) f.i32Const(16).i32x4Shl();
      // bfloat16: the half in the lane's top 16 bits is the float32; float16: moved down 3 with
      // its sign copied, as the sign-extended half moved up 13 is in group's decode
      if (kind === "f16")
        f.i32Const(3)
          .i32x4ShrS()
          .i32x4Const(0x8fffe000 | 0)
          .v128And();
      else if (odd) f.i32x4Const(0xffff0000 | 0).v128And();
      const sum = sums[2 * p + (odd ? 1 : 0)]!;
      f.localGet(l.px).v128Load(32 * p + (odd ? 16 : 0));
      if (fma) f.localGet(sum).f32x4RelaxedMadd().localSet(sum);
      else f.f32x4Mul().localGet(sum).f32x4Add().localSet(sum);
    }
  };
  rowsLoop(f, l, () => {
    f.localGet(NB).i32Const(3).i32And().localSet(rest);
    f.localGet(NB).i32Const(2).i32ShrU().localSet(j);
    for (const sum of sums.slice(1)) f.v128Const0().localSet(sum);
    f.block().localGet(j).i32Eqz().brIf(0);
    f.loop();
    if (paired) for (let p = 0; p < 2; p++) pair(p);
    else for (let g = 0; g < 4; g++) group(g, sums[g]!);
    advance(16);
    f.localGet(j).i32Const(1).i32Sub().localTee(j).brIf(0);
    f.end().end();
    f.localGet(sums[0]!).localGet(sums[1]!).f32x4Add();
    f.localGet(sums[2]!).localGet(sums[3]!).f32x4Add();
    f.f32x4Add().localSet(sums[0]!);
    f.block().localGet(rest).i32Eqz().brIf(0);
    f.loop();
    group(0, sums[0]!);
    advance(4);
    f.localGet(rest).i32Const(1).i32Sub().localTee(rest).brIf(0);
    f.end().end();
  });
  return { name: `gemv_${kind}${scaledX ? "_scaled" : ""}${paired ? "_paired" : ""}`, params: PARAMS, locals: L.types, body: f };
}

function gemvQ6K(): FuncDef {
  // one parameter more than the others: 64 bytes of scratch for a super-block's scales
  const S = 9;
  const [acc, pw, px, b, , , , q, t, sub, d, , xi, yi, i, g, h2, si, pxs] = [
    10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28,
  ];
  const f = new ResidentStoredCode();
  rowsLoop(f, { acc, pw, px, xi, yi, i }, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // super-blocks of 256: 128 bytes of low nibbles, 64 of high bit pairs, 16 int8 scales, f16 d
    // d * each sub-block's int8 scale, 16 float32 in four vectors: one float32 rounding each, as
    // the staged kernel's scales
    halfBits(f, pw, 208, g, h2);
    f.f32ReinterpretI32().f32x4Splat().localSet(d);
    f.localGet(pw).loadAny(192).localSet(q);
    // (kept in scratch memory, not locals: the loop below needs every register it can get)
    storeScaled(f, q, d, t, S, 0);
    // The 16 groups of 16 values in the unpacking order of the other Q6_K kernels (halves h,
    // 16-byte halves l, groups k: sub-block 8 h + 2 k + l), one a loop iteration: unrolled, V8
    // loaded all 64 activation vectors first and spilled them, with the decoding constants. The
    // group is decoded with 16-bit shifts by k's counts (the bits they carry across bytes masked
    // off): low nibbles (ql or ql2 >> 4 (k >> 1)) & 15 | ((qh >> 2 k) & 3) << 4, the values of
    // q6kGroup(k).
    f.i32Const(0).localSet(g);
    f.loop();
    // h = g >> 3, l = (g >> 2) & 1, k = g & 3: low nibbles at 64 h + 16 l + 32 (k & 1), shifted
    // by 4 (k >> 1); high bits at 128 + 32 h + 16 l, shifted by 2 k
    f.localGet(pw).localGet(g).i32Const(8).i32And().i32Const(3).i32Shl().i32Add();
    f.localGet(g).i32Const(4).i32And().i32Const(2).i32Shl().i32Add();
    f.localGet(g).i32Const(1).i32And().i32Const(5).i32Shl().i32Add();
    f.loadAny().localGet(g).i32Const(2).i32And().i32Const(1).i32Shl().i16x8ShrU().constBytes(0x0f).v128And();
    f.localGet(pw).localGet(g).i32Const(12).i32And().i32Const(2).i32Shl().i32Add();
    f.loadAny(128).localGet(g).i32Const(3).i32And().i32Const(1).i32Shl().i16x8ShrU().constBytes(0x03).v128And();
    f.i32Const(4).i16x8Shl().v128Or().localSet(q); // 0..63, the value plus 32
    // sub-block 8 h + 2 k + l: its 16 activations and its scale; sub += (q - 32) x
    f.localGet(g).i32Const(8).i32And();
    f.localGet(g).i32Const(3).i32And().i32Const(1).i32Shl().i32Add();
    f.localGet(g).i32Const(2).i32ShrU().i32Const(1).i32And().i32Add().localSet(si);
    f.localGet(px).localGet(si).i32Const(6).i32Shl().i32Add().localSet(pxs);
    f.v128Const0().localSet(sub);
    maddBytes(f, q, t, sub, pxs, 0, 32);
    // acc += sub * the sub-block's scale
    f.localGet(sub)
      .localGet(S)
      .localGet(si)
      .i32Const(2)
      .i32Shl()
      .i32Add()
      .v128Load32Splat()
      .f32x4Mul()
      .localGet(acc)
      .f32x4Add()
      .localSet(acc);
    f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(16).i32LtU().brIf(0);
    f.end();
    nextBlock(f, pw, 210, px, 1024, b);
  });
  return {
    name: "gemv_q6_k",
    params: [...PARAMS, i32],
    locals: [v128, i32, i32, i32, v128, v128, v128, v128, v128, v128, v128, v128, i32, i32, i32, i32, i32, i32, i32],
    body: f,
  };
}

/**
 * Q4_K: super-blocks of 256 (144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8
 * sub-blocks of 32, 128 bytes of nibbles). Each super-block's d * scale and dmin * min (exact in
 * float32, as dequantize_row_q4_K's) go to the 64 bytes of scratch at s; each value is decoded as
 * q * (d * scale) - dmin * min in float32 (two roundings where the JS decoder rounds once: the
 * values may differ from it in the last bit) and multiplied into per-lane sums. Q5_K (176 bytes)
 * has 32 bytes of fifth bits before the nibbles (bit j of byte l: 16 for value l % 32 of sub-block j).
 */
function gemvScaleMin(dtype: "q4_k" | "q5_k"): FuncDef {
  const S = 9;
  const fifth = dtype === "q5_k";
  const qh = 33;
  const [acc, pw, px, b, u, t, dv, mv, , xi, yi, i, d, dmin, h, bits] = [10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25];
  const [g, k, sk, pxs, a1, a2, a3] = [26, 27, 28, 29, 30, 31, 32];
  // four running sums, one per four values of each 16 (a single chain of additions was the bound;
  // Q4_K has no other kernel whose bits these must match), added as (s0 + s1) + (s2 + s3)
  const sums = [acc, a1, a2, a3];
  const f = new ResidentStoredCode();
  rowsLoop(f, { acc, pw, px, xi, yi, i }, () => {
    for (const sum of sums.slice(1)) f.v128Const0().localSet(sum);
    f.localGet(NB).localSet(b);
    f.loop(); // super-blocks
    halfBits(f, pw, 0, h, bits);
    f.f32ReinterpretI32().localSet(d);
    halfBits(f, pw, 2, h, bits);
    f.f32ReinterpretI32().localSet(dmin);
    const byte = (o: number) => f.localGet(pw).i32Load8U(4 + o);
    for (let j = 0; j < 8; j++) {
      // get_scale_min_k4(j): 6-bit scale and min
      f.localGet(S);
      if (j < 4) byte(j).i32Const(63).i32And();
      else {
        byte(j + 4)
          .i32Const(15)
          .i32And();
        byte(j - 4)
          .i32Const(6)
          .i32ShrU()
          .i32Const(4)
          .i32Shl()
          .i32Or();
      }
      f.f32ConvertI32U()
        .localGet(d)
        .f32Mul()
        .f32Store(4 * j);
      f.localGet(S);
      if (j < 4)
        byte(j + 4)
          .i32Const(63)
          .i32And();
      else {
        byte(j + 4)
          .i32Const(4)
          .i32ShrU();
        byte(j).i32Const(6).i32ShrU().i32Const(4).i32Shl().i32Or();
      }
      f.f32ConvertI32U()
        .localGet(dmin)
        .f32Mul()
        .f32Store(32 + 4 * j);
    }
    // 16 values a loop iteration g (unrolled, V8 loaded all the activation vectors first and
    // spilled them): pair = g >> 2, half = (g >> 1) & 1, high = g & 1; the 16 bytes at
    // 16 + 32 pair + 16 half, their low nibbles (high 0) or high ones (high 1) the values
    // 16 half .. of sub-block k = 2 pair + high, whose activations start at 128 k + 64 half
    f.i32Const(0).localSet(g);
    f.loop();
    // k = 2 (g >> 2) + (g & 1)
    f.localGet(g).i32Const(2).i32ShrU().i32Const(1).i32Shl().localGet(g).i32Const(1).i32And().i32Add().localSet(k);
    // Q5_K: the fifth bits of the 16 values, bit k of the bytes at 16 + 16 half
    if (fifth) f.localGet(pw).localGet(g).i32Const(2).i32And().i32Const(3).i32Shl().i32Add().loadAny(16).localSet(qh);
    f.localGet(pw).localGet(g).i32Const(14).i32And().i32Const(3).i32Shl().i32Add();
    f.loadAny(fifth ? 48 : 16)
      .localGet(g)
      .i32Const(1)
      .i32And()
      .i32Const(2)
      .i32Shl()
      .i16x8ShrU()
      .constBytes(0x0f)
      .v128And();
    if (fifth) f.fifthBit(qh, k, true).v128Or();
    f.localSet(u);
    f.localGet(S).localGet(k).i32Const(2).i32Shl().i32Add().localTee(sk).v128Load32Splat().localSet(dv);
    f.localGet(sk).v128Load32Splat(32).localSet(mv);
    f.localGet(px).localGet(k).i32Const(7).i32Shl().i32Add();
    f.localGet(g).i32Const(2).i32And().i32Const(5).i32Shl().i32Add().localSet(pxs);
    // value = q * (d * scale) - dmin * min (q made float32 as maddBytes does); sum += value * x
    for (const [bytes, base] of [
      [BYTES_LOW, 0],
      [BYTES_HIGH, 32],
    ] as const) {
      f.localGet(u).v128Const0().shuffle(bytes).localSet(t);
      for (const [words, off] of [
        [WORDS_LOW, 0],
        [WORDS_HIGH, 16],
      ] as const) {
        const sum = sums[(base + off) / 16]!;
        f.localGet(t)
          .i32x4Const(0x4b004b00)
          .shuffle(words)
          .f32x4Const(2 ** 23)
          .f32x4Sub();
        f.localGet(dv).f32x4Mul().localGet(mv).f32x4Sub();
        f.localGet(pxs)
          .v128Load(base + off)
          .f32x4Mul()
          .localGet(sum)
          .f32x4Add()
          .localSet(sum);
      }
    }
    f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(16).i32LtU().brIf(0);
    f.end();
    nextBlock(f, pw, fifth ? 176 : 144, px, 1024, b);
    f.localGet(acc).localGet(a1).f32x4Add().localGet(a2).localGet(a3).f32x4Add().f32x4Add().localSet(acc);
  });
  return {
    name: `gemv_${dtype}`,
    params: [...PARAMS, i32],
    locals: [
      v128,
      i32,
      i32,
      i32,
      v128,
      v128,
      v128,
      v128,
      v128,
      i32,
      i32,
      i32,
      f32,
      f32,
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
    ],
    body: f,
  };
}

/** IQ4_NL / IQ4_XS's levels plus 128, as the unsigned bytes maddBytes reads. */
const IQ4_LEVELS = IQ4_VALUES.map((v) => v + 128);

/**
 * IQ4_XS (136 bytes: f16 d, the high two bits of eight 6-bit scales in a u16, their low four bits in
 * 4 bytes, eight 16-byte IQ4_NL nibble blocks): per sub-block of 32, sum = (levels . x) times
 * d (scale - 32) (that product exact in float32), held to float64 on the decoded values.
 */
function gemvIQ4XS(): FuncDef {
  // (the K-quants' scratch parameter, unused: its scales are decoded as they are needed)
  const L = new Locals(PARAMS.length + 1);
  const l = rowLocals(L);
  const { pw, px, acc } = l;
  const [sub, t, u] = L.many(v128, 3);
  const [b, j, pn, pxs, hs, h, bits] = L.many(i32, 7);
  const d = L.add(f32);
  const f = new ResidentStoredCode();
  rowsLoop(f, l, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // super-blocks
    halfBits(f, pw, 0, h, bits);
    f.f32ReinterpretI32().localSet(d);
    f.localGet(pw).i32Load16U(2).localSet(hs);
    f.localGet(pw).i32Const(8).i32Add().localSet(pn);
    f.localGet(px).localSet(pxs);
    f.i32Const(0).localSet(j);
    f.loop(); // sub-blocks of 32
    f.v128Const0().localSet(sub);
    maddNibbleBlock(f, pn, 0, null, u, t, sub, pxs, 128, IQ4_LEVELS);
    // acc += sub * d (scale - 32): the low four bits at bits 4 (j & 1) of byte 4 + j / 2, the high
    // two at bits 2 j of the u16
    f.localGet(sub);
    f.localGet(pw).localGet(j).i32Const(1).i32ShrU().i32Add().i32Load8U(4);
    f.localGet(j).i32Const(1).i32And().i32Const(2).i32Shl().i32ShrU().i32Const(15).i32And();
    f.localGet(hs).localGet(j).i32Const(1).i32Shl().i32ShrU().i32Const(3).i32And().i32Const(4).i32Shl().i32Or();
    f.i32Const(32).i32Sub().f32ConvertI32S().localGet(d).f32Mul().f32x4Splat();
    f.f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
    f.localGet(pn).i32Const(16).i32Add().localSet(pn);
    f.localGet(pxs).i32Const(128).i32Add().localSet(pxs);
    f.localGet(j).i32Const(1).i32Add().localTee(j).i32Const(8).i32LtU().brIf(0);
    f.end();
    nextBlock(f, pw, 136, px, 1024, b);
  });
  return { name: "gemv_iq4_xs", params: [...PARAMS, i32], locals: L.types, body: f };
}

/**
 * Stores the 16 int8 of local `q` as float32, each times local `d` (f32x4), at local `s` + offset
 * (64 bytes): one float32 rounding each, as the JS decoders' f(d * scale). `t` a v128 scratch local.
 */
function storeScaled(f: ResidentStoredCode, q: number, d: number, t: number, s: number, offset: number): void {
  for (let j = 0; j < 4; j++) {
    f.int8Quarter(q, j).localGet(d).f32x4Mul().localSet(t);
    f.localGet(s)
      .localGet(t)
      .v128Store(offset + 16 * j);
  }
}

/**
 * Q2_K (84 bytes: 16 bytes of 4-bit scales and mins, 64 bytes of 2-bit quants, f16 d and dmin) and
 * Q3_K (110 bytes: 32 bytes of high bits, the 64 bytes of 2-bit quants, 12 bytes of 6-bit scales,
 * f16 d). Both have a scale per 16 values and keep value v's two low bits at bits 2 ((v / 32) % 4)
 * of quant byte 32 (v / 128) + v % 32, so group g (values 16 g ..) reads the 16 bytes at
 * 32 (g >> 3) + 16 (g & 1) shifted right by g & 6. Each super-block's d * scale (and Q2_K's
 * dmin * min) go to scratch at s as float32 (exact as the JS decoders' roundings); then per group
 * sum = (d sc) (q . x) - (dmin m) (sum of x) for Q2_K, (d sc) ((q - 4) . x) for Q3_K (q 0..7: the
 * high bit, bit g >> 1 of the 16 bytes at 16 (g & 1), is 4). The same real numbers as the decoded
 * values times x, rounded otherwise: held to float64, not to the JS kernel's bits.
 */
function gemvLowBitK(kind: "q2_k" | "q3_k"): FuncDef {
  const S = 9;
  const L = new Locals(PARAMS.length + 1);
  const l = rowLocals(L);
  const { pw, px, acc } = l;
  const [q, t, sub, d, v, w] = L.many(v128, 6);
  const [b, g, hbit, pxs, h, bits] = L.many(i32, 6);
  const q3 = kind === "q3_k";
  const f = new ResidentStoredCode();
  rowsLoop(f, l, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // super-blocks
    if (q3) {
      halfBits(f, pw, 108, h, bits);
      f.f32ReinterpretI32().f32x4Splat().localSet(d);
      // the 12 scale bytes (96-107) as lanes 2-13 of the 16 bytes from 94 (within the block):
      // sub-block j's low four bits in the nibbles of bytes 0-7 (j < 8 low, else high), its high
      // two at bits 2 (j >> 2) of byte 8 + (j & 3)
      f.localGet(pw).loadAny(94).localSet(v);
      f.localGet(v).constBytes(0x0f).v128And();
      f.localGet(v).bytesShrU(4);
      f.shuffle([2, 3, 4, 5, 6, 7, 8, 9, 18, 19, 20, 21, 22, 23, 24, 25]).localSet(w);
      const bytes8To11 = [10, 11, 12, 13, 26, 27, 28, 29, 0, 0, 0, 0, 0, 0, 0, 0];
      f.localGet(v).constBytes(0x03).v128And();
      f.localGet(v).bytesShrU(2, 0x03);
      f.shuffle(bytes8To11);
      f.localGet(v).bytesShrU(4, 0x03);
      f.localGet(v).bytesShrU(6);
      f.shuffle(bytes8To11);
      f.shuffle([0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23]);
      f.bytesShl(4).localGet(w).v128Or().constBytes(32).i8x16Sub().localSet(v); // scale - 32
      storeScaled(f, v, d, t, S, 0);
    } else {
      // scale (low nibble) times d, min (high nibble) times dmin, per 16 values
      f.localGet(pw).loadAny(0).localSet(v);
      halfBits(f, pw, 80, h, bits);
      f.f32ReinterpretI32().f32x4Splat().localSet(d);
      f.localGet(v).constBytes(0x0f).v128And().localSet(w);
      storeScaled(f, w, d, t, S, 0);
      halfBits(f, pw, 82, h, bits);
      f.f32ReinterpretI32().f32x4Splat().localSet(d);
      f.localGet(v).bytesShrU(4).localSet(w);
      storeScaled(f, w, d, t, S, 64);
    }
    // one group of 16 values a loop iteration (see gemvQ6K)
    f.i32Const(0).localSet(g);
    f.loop();
    f.localGet(pw).localGet(g).i32Const(8).i32And().i32Const(2).i32Shl().i32Add();
    f.localGet(g).i32Const(1).i32And().i32Const(4).i32Shl().i32Add();
    f.loadAny(q3 ? 32 : 16)
      .localGet(g)
      .i32Const(6)
      .i32And()
      .i16x8ShrU()
      .constBytes(0x03)
      .v128And();
    if (q3) {
      f.localSet(q);
      f.localGet(pw).localGet(g).i32Const(1).i32And().i32Const(4).i32Shl().i32Add().loadAny(0).localSet(v);
      f.localGet(g).i32Const(1).i32ShrU().localSet(hbit);
      f.localGet(q).bitAs(v, hbit, 4).v128Or();
    }
    f.localSet(q);
    f.localGet(px).localGet(g).i32Const(6).i32Shl().i32Add().localSet(pxs);
    f.v128Const0().localSet(sub);
    maddBytes(f, q, t, sub, pxs, 0, q3 ? 4 : 0);
    // acc += sub * the group's d * scale (Q2_K: minus the sum of its x times dmin * min)
    f.localGet(sub).localGet(S).localGet(g).i32Const(2).i32Shl().i32Add().localTee(hbit).v128Load32Splat().f32x4Mul();
    if (!q3) {
      f.localGet(pxs).v128Load(0);
      for (let k = 1; k < 4; k++)
        f.localGet(pxs)
          .v128Load(16 * k)
          .f32x4Add();
      f.localGet(hbit).v128Load32Splat(64).f32x4Mul().f32x4Sub();
    }
    f.localGet(acc).f32x4Add().localSet(acc);
    f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(16).i32LtU().brIf(0);
    f.end();
    nextBlock(f, pw, q3 ? 110 : 84, px, 1024, b);
  });
  return { name: `gemv_${kind}`, params: [...PARAMS, i32], locals: L.types, body: f };
}

/**
 * The lattice types (lattice_code.ts): each 16 values' levels (int8 lanes, signs applied) become
 * the decoded values float32(scale * level), which are multiplied by x and added to the row's sum
 * four lanes at a time: the decoded weight's dot product in float32, held to float64.
 */
function gemvLattice(kind: LatticeDType): FuncDef {
  const GRID = PARAMS.length + 1;
  const L = new Locals(PARAMS.length + 2);
  const l = rowLocals(L);
  const { pw, px, acc } = l;
  const [v, m, q, sc] = L.many(v128, 4);
  const [b, a, bb, aux] = L.many(i32, 4);
  const d = L.add(f32);
  const lattice = { pw, grid: GRID, a, b: bb, v, m, aux };
  const f = new ResidentStoredCode();
  rowsLoop(f, l, () => {
    f.localGet(NB).localSet(b);
    f.loop(); // super-blocks
    latticeD(f, kind, lattice);
    f.localSet(d);
    for (let j = 0; j < 8; j++) {
      latticeSubBlock(f, kind, lattice, j);
      for (let g = 0; g < 2; g++) {
        latticeScale(f, kind, lattice, d, j, g);
        f.f32x4Splat().localSet(sc);
        latticeLevels(f, kind, lattice, j, g);
        f.localSet(q);
        for (let k = 0; k < 4; k++) {
          f.int8Quarter(q, k).localGet(sc).f32x4Mul();
          f.localGet(px)
            .v128Load(4 * (32 * j + 16 * g + 4 * k))
            .f32x4Mul()
            .localGet(acc)
            .f32x4Add()
            .localSet(acc);
        }
      }
    }
    nextBlock(f, pw, QUANT_BLOCKS[kind].bytes, px, 1024, b);
  });
  return { name: `gemv_${kind}`, params: [...PARAMS, i32, i32], locals: L.types, body: f };
}

/**
 * `scale_2p112(x, dst, n)`: dst[i] = x[i] * 2^112 for the n floats at x (n a multiple of 4), and
 * dst[n] = 1 where every |x[i]| < 2^16 (so none overflows: gemv_f16_scaled may read dst), else 0
 * (NaN and infinities fail the test). One pass in SIMD where the JS loop over the heap's shared
 * memory took 2-4 ns a value (a GPT-2 token's float16 GEMVs scale 64,512 of them).
 * `scale_2p112_paired` the same in pairs' order (n a multiple of 16: each eight's even floats, then
 * its odd ones) for gemv_f16_scaled_paired; `pairs_order` that order unscaled, for gemv_bf16_paired.
 */
function activationCopy(paired: boolean, scaled: boolean): FuncDef {
  const [X, DST, N] = [0, 1, 2];
  const L = new Locals(3);
  const [k, ok] = [L.add(i32), L.add(v128)];
  const f = new ResidentStoredCode();
  /** ok &= |the four floats at X + offset| < 2^16 */
  const check = (offset: number): void => {
    f.localGet(X)
      .v128Load(offset)
      .f32x4Abs()
      .f32x4Const(2 ** 16)
      .f32x4Lt()
      .localGet(ok)
      .v128And()
      .localSet(ok);
  };
  f.i32x4Const(-1).localSet(ok);
  f.localGet(N)
    .i32Const(paired ? 4 : 2)
    .i32ShrU()
    .localSet(k);
  countdown(f, k, () => {
    if (paired) {
      // sixteen floats: each eight's even ones, then its odd ones (gemv_f16_scaled_paired's order)
      for (let v = 0; v < 4; v++) {
        const eight = 32 * (v >> 1);
        f.localGet(DST)
          .localGet(X)
          .v128Load(eight)
          .localGet(X)
          .v128Load(eight + 16)
          .shuffle(v & 1 ? FLOATS_ODD : FLOATS_EVEN);
        if (scaled) f.f32x4Const(2 ** 112).f32x4Mul();
        f.v128Store(16 * v);
        if (scaled) check(16 * v);
      }
      bump(f, X, 64);
      bump(f, DST, 64);
    } else {
      f.localGet(DST)
        .localGet(X)
        .v128Load()
        .f32x4Const(2 ** 112)
        .f32x4Mul()
        .v128Store();
      check(0);
      bump(f, X, 16);
      bump(f, DST, 16);
    }
  });
  if (scaled) f.localGet(DST).f32Const(1).f32Const(0).localGet(ok).i32x4AllTrue().select().f32Store();
  const name = !scaled ? "pairs_order" : paired ? "scale_2p112_paired" : "scale_2p112";
  return { name, params: [i32, i32, i32], locals: L.types, body: f };
}

/** The module's functions (the half types' fused with relaxed SIMD's multiply-add: see gemvHalf). */
export function storedGemvFunctions(fma: boolean): FuncDef[] {
  return [
    gemvBlocks("q8_0"),
    gemvBlocks("q4_0"),
    gemvHalf("f16", false, fma),
    gemvHalf("bf16", false, fma),
    gemvQ6K(),
    gemvScaleMin("q4_k"),
    gemvHalf("f16", true, fma),
    gemvHalf("f16", true, fma, true),
    gemvHalf("bf16", false, fma, true),
    gemvScaleMin("q5_k"),
    gemvMinBlocks("q4_1"),
    gemvMinBlocks("q5_1"),
    gemvBlocks("q5_0"),
    gemvLowBitK("q2_k"),
    gemvLowBitK("q3_k"),
    gemvBlocks("iq4_nl"),
    gemvIQ4XS(),
    ...LATTICE_DTYPES.map(gemvLattice),
    activationCopy(false, true),
    activationCopy(true, true),
    activationCopy(true, false),
  ];
}
