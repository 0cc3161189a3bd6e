import { Code, emitModule, i32, uleb, v128, type FuncDef } from "./encoder.js";

/**
 * Dot products of float32 activations with weight rows kept as stored, for decoding (one
 * activation row at a time): each function computes y[r] = W[r, :] . x for n rows of W, decoding
 * W's values in registers as it goes (no float32 copy of W):
 *  - `dot_q8_0(w, s, x, y, n, nb, ldw)`: Q8_0 rows of nb blocks (34 bytes: f16 scale, 32 int8),
 *    their scales already as float32 in s (one per block, rows after each other);
 *  - `dot_q4_0(w, s, x, y, n, nb, ldw)`: Q4_0 rows (18-byte blocks: scale, 16 bytes of nibbles);
 *  - `dot_q6_k(w, s, x, y, n, nb, ldw)`: Q6_K rows of nb super-blocks (210 bytes: 128 of low
 *    nibbles, 64 of high bit pairs, 16 scales, d); s holds d * scale for each 16 values, float32;
 *  - `dot_f16(w, x, y, n, k4, ldw)` and `dot_bf16(...)`: rows of k4 groups of four halves.
 * Sums are float32, per lane, added pairwise at the end. Addresses and strides in bytes.
 * The SIMD opcodes beyond the shared encoder's are added here (WebAssembly SIMD spec values).
 */
// biome-ignore format: the opcode methods are a table, one line each
export class StoredCode extends Code {
  protected simdOp(sub: number, ...imm: number[]): this { this.bytes.push(0xfd, ...uleb(sub), ...imm); return this; }
  /** memarg with alignment hint 0 (any address) and a static offset. */
  protected at(offset: number): number[] { return [0, ...uleb(offset)]; }
  /**
   * A load that widens or splats (load8x8_s ...): the offset added to the address on the stack by an
   * i32.add, not given as the memarg's: for those V8 keeps memory start + offset in a register of
   * its own, hoisted out of the loop (a Q8_0 GEMV's group spilled sixteen of them).
   */
  protected transformLoad(sub: number, offset: number): this {
    if (offset !== 0) this.i32Const(offset).i32Add();
    return this.simdOp(sub, ...this.at(0));
  }
  load8x8S(offset = 0): this { return this.transformLoad(0x01, offset); }
  load16x4U(offset = 0): this { return this.transformLoad(0x04, offset); }
  loadAny(offset = 0): this { return this.simdOp(0x00, ...this.at(offset)); }
  constBytes(byte: number): this { return this.simdOp(0x0c, ...new Array<number>(16).fill(byte)); }
  /** v128.const of 16 given bytes. */
  bytesConst(bytes: readonly number[]): this { return this.simdOp(0x0c, ...bytes); }
  load16Splat(offset = 0): this { return this.transformLoad(0x08, offset); }
  shuffle(lanes: readonly number[]): this { return this.simdOp(0x0d, ...lanes); }
  /** i8x16.swizzle: the first vector's bytes at the second's indices (0 past 15). */
  swizzle(): this { return this.simdOp(0x0e); }
  i8x16Eq(): this { return this.simdOp(0x23); }
  i32x4Eq(): this { return this.simdOp(0x37); }
  i32x4ShrS(): this { return this.simdOp(0xac); }
  i32x4ExtendLowI16x8U(): this { return this.simdOp(0xa9); }
  i32x4ExtendHighI16x8U(): this { return this.simdOp(0xaa); }
  i32Or(): this { this.bytes.push(0x72); return this; }
  /** i32.load16_u (alignment hint 2 bytes) at a static offset. */
  i32Load16U(offset = 0): this { this.bytes.push(0x2f, 1, ...uleb(offset)); return this; }
  i8x16Splat(): this { return this.simdOp(0x0f); }
  v128And(): this { return this.simdOp(0x4e); }
  v128Or(): this { return this.simdOp(0x50); }
  i8x16Shl(): this { return this.simdOp(0x6b); }
  i8x16ShrU(): this { return this.simdOp(0x6d); }
  i16x8ShrU(): this { return this.simdOp(0x8d); }
  i16x8Shl(): this { return this.simdOp(0x8b); }
  /** Each byte shifted left by k (a constant), as a word shift and a mask (as bytesShrU, for i8x16.shl). */
  bytesShl(k: number, mask = (0xff << k) & 0xff): this { return this.i32Const(k).i16x8Shl().constBytes(mask).v128And(); }
  /**
   * Each byte shifted right by k (a constant), as a word shift and a mask of each byte's low 8 - k
   * bits: V8 lowers i8x16.shr_u so but builds its mask anew at each use (three more instructions);
   * a v128.const mask it keeps in a register. `mask`: a narrower one, where the caller keeps only
   * those bits anyway (any within the default: the bits the word shift brings from the next byte
   * lie above it).
   */
  bytesShrU(k: number, mask = 0xff >> k): this { return this.i32Const(k).i16x8ShrU().constBytes(mask).v128And(); }
  /**
   * i32x4.extadd_pairwise_i16x8_s as a dot product with ones: V8 lowers the former to that dot
   * product with its ones read from memory at each use; a v128.const of ones it keeps in a register.
   */
  pairSumsI32(): this { return this.i32x4Const(0x00010001).simdOp(0xba); }
  i8x16Sub(): this { return this.simdOp(0x71); }
  i16x8ExtendLowI8x16S(): this { return this.simdOp(0x87); }
  i16x8ExtendHighI8x16S(): this { return this.simdOp(0x88); }
  i32x4ExtendLowI16x8S(): this { return this.simdOp(0xa7); }
  i32x4ExtendHighI16x8S(): this { return this.simdOp(0xa8); }
  f32x4ConvertI32x4S(): this { return this.simdOp(0xfa); }
  /** Lanes 4k .. 4k + 3 (k 0-3) of the 16 int8 lanes of local `q`, sign-extended, as float32. */
  int8Quarter(q: number, k: number): this {
    this.localGet(q);
    if (k < 2) this.i16x8ExtendLowI8x16S();
    else this.i16x8ExtendHighI8x16S();
    if (k % 2 === 0) this.i32x4ExtendLowI16x8S();
    else this.i32x4ExtendHighI16x8S();
    return this.f32x4ConvertI32x4S();
  }
  f32ReinterpretI32(): this { this.bytes.push(0xbe); return this; }
  v128Xor(): this { return this.simdOp(0x51); }
  i32x4Splat(): this { return this.simdOp(0x11); }
  i16x8Splat(): this { return this.simdOp(0x10); }
  i8x16Add(): this { return this.simdOp(0x6e); }
  i32Popcnt(): this { this.bytes.push(0x69); return this; }
  /** v128.load64_zero: 8 bytes into the low lane, the high lane 0. */
  load64Zero(offset = 0): this { return this.transformLoad(0x5d, offset); }
  /**
   * v128.load16_lane / load32_lane / load64_lane (stack: address, vector): the vector with one lane
   * loaded. In loops, add a non-zero offset to the address instead (see transformLoad).
   */
  load16Lane(offset: number, lane: number): this { return this.simdOp(0x55, ...this.at(offset), lane); }
  load32Lane(offset: number, lane: number): this { return this.simdOp(0x56, ...this.at(offset), lane); }
  load64Lane(offset: number, lane: number): this { return this.simdOp(0x57, ...this.at(offset), lane); }
  /**
   * The float16 bits (0 .. 0xffff) in i32 local `h` as float32 bits (an i32), onto the stack, exactly as the JS
   * decoder gives them: normals by rebasing the exponent with an integer add; zero and subnormals
   * (exponent 0) as their 10-bit integer times 2^-24, infinities and NaNs (exponent all ones) kept,
   * both on a branch ((h + 0x400) & 0x7800 is 0) that real blocks do not take; the sign moved up 16.
   * Integer instructions, and no float operation sees a float32 subnormal (on x86 each one costs a
   * microcode assist; small models' block scales are often float16 subnormals). `bits` an i32 scratch local.
   */
  halfOf(h: number, bits: number): this {
    this.localGet(h).i32Const(0x7fff).i32And().i32Const(13).i32Shl().i32Const(112 << 23).i32Add().localSet(bits);
    this.localGet(h).i32Const(0x400).i32Add().i32Const(0x7800).i32And().i32Eqz().if();
    this.localGet(h).i32Const(0x7c00).i32And().i32Eqz().if();
    this.localGet(h).i32Const(0x7fff).i32And().f32ConvertI32S().f32Const(2 ** -24).f32Mul().i32ReinterpretF32().localSet(bits);
    this.else();
    this.localGet(h).i32Const(0x7fff).i32And().i32Const(13).i32Shl().i32Const(0x7f800000).i32Or().localSet(bits);
    this.end().end();
    return this.localGet(bits).localGet(h).i32Const(0x8000).i32And().i32Const(16).i32Shl().i32Or();
  }
  /**
   * The float16 bits in the low half of each i32 lane of local `v`, as float32, onto the stack:
   * magnitude bits moved up 13 and the exponent rebased by multiplying by 2^112 (exact for
   * normals, subnormals and zero), sign bit moved up 16.
   */
  halfLanes(v: number): this {
    this.localGet(v).i32x4Const(0x7fff).v128And().i32Const(13).i32x4Shl().f32x4Const(2 ** 112).f32x4Mul();
    return this.localGet(v).i32x4Const(0x8000).v128And().i32Const(16).i32x4Shl().v128Or();
  }
  /**
   * Q5_1's fifth bits: bits 16 half .. 16 half + 15 of the u32 at local `addr` + offset (bit j for
   * value j of the block), one a byte lane, as 0 or 16 onto the stack: the two bytes spread over
   * eight lanes each, each lane's bit picked and compared.
   */
  fifthBitsOfWord(addr: number, offset: number, half: 0 | 1): this {
    const bits = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
    this.localGet(addr).load16Splat(offset + 2 * half).v128Const0().shuffle([0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1]);
    return this.bytesConst(bits).v128And().bytesConst(bits).i8x16Eq().constBytes(16).v128And();
  }
  /**
   * Q5_K's fifth bits: bit `bit` (0-7; a constant, or with `dynamic` the i32 in local `bit`) of
   * each of the 16 bytes of local qh, as 0 or 16, onto the stack, to be or-ed into the nibbles.
   */
  fifthBit(qh: number, bit: number, dynamic = false): this {
    if (dynamic) return this.bitAs(qh, bit, 16);
    this.localGet(qh).constBytes(1 << bit).v128And();
    // one bit a byte, moved within it: a word shift carries none into the next byte, so no mask
    if (bit < 4) return this.i32Const(4 - bit).i16x8Shl();
    return bit > 4 ? this.i32Const(bit - 4).i16x8ShrU() : this;
  }
  /**
   * Bit `bit` (the i32 in local `bit`, 0-7) of each of the 16 bytes of local `bytes`, as 0 or `value`,
   * onto the stack. (A variable shift of bytes has no x86 instruction: the bit is tested against a
   * splatted mask.)
   */
  bitAs(bytes: number, bit: number, value: number): this {
    return this.constBytes(value).localGet(bytes).i32Const(1).localGet(bit).i32Shl().i8x16Splat().v128And().v128Const0().i8x16Eq().v128AndNot();
  }
  /**
   * The two low bits of Q2_K's / Q3_K's group g (0-15) of 16 values, from the 16 quant bytes in
   * local `quants` (the ones at 32 (g >> 3) + 16 (g & 1) of the 64): bits g & 6 of each, onto the
   * stack; with `thirdBits` (Q3_K: the 16 high-bit bytes at 16 (g & 1) of the 32), bit g >> 1 of
   * those added as 4 and 4 taken off: the levels -4..3 as int8 (without `less4`: 0..7).
   */
  lowBitGroup(quants: number, g: number, thirdBits?: number, less4 = true): this {
    this.localGet(quants);
    if (g & 6) this.bytesShrU(g & 6);
    this.constBytes(0x03).v128And();
    if (thirdBits === undefined) return this;
    const bit = g >> 1;
    this.localGet(thirdBits)
      .constBytes(1 << bit)
      .v128And();
    // (one bit a byte, moved within it: no mask, as fifthBit)
    if (bit < 2) this.i32Const(2 - bit).i16x8Shl();
    else if (bit > 2) this.i32Const(bit - 2).i16x8ShrU();
    this.v128Or();
    return less4 ? this.constBytes(4).i8x16Sub() : this;
  }
  /**
   * Q3_K's sub-block g (0-15) scale less 32, as an i32, from the block at local `pw`: the low four
   * bits in the nibbles of bytes 96-103 (g < 8 low, else high), the high two at bits 2 (g >> 2) of
   * byte 104 + (g & 3).
   */
  q3kScale(pw: number, g: number): this {
    this.localGet(pw).i32Load8U(96 + (g & 7));
    if (g >= 8) this.i32Const(4).i32ShrU();
    this.i32Const(15).i32And();
    this.localGet(pw).i32Load8U(104 + (g & 3)).i32Const(2 * (g >> 2)).i32ShrU().i32Const(3).i32And();
    return this.i32Const(4).i32Shl().i32Or().i32Const(32).i32Sub();
  }
  /**
   * IQ4_XS's sub-block j (0-7) scale less 32, as an i32, from the block at local `pw` whose u16 of
   * high bits is in local `hs`: the low four bits at bits 4 (j & 1) of byte 4 + j / 2, the high two
   * at bits 2 j of the u16.
   */
  iq4xsScale(pw: number, hs: number, j: number): this {
    this.localGet(pw).i32Load8U(4 + (j >> 1));
    if (j & 1) this.i32Const(4).i32ShrU();
    this.i32Const(15).i32And();
    this.localGet(hs).i32Const(2 * j).i32ShrU().i32Const(3).i32And().i32Const(4).i32Shl().i32Or();
    return this.i32Const(32).i32Sub();
  }
  /**
   * Q6_K's group k (0-3) of 16 six-bit values (0..63) from the 16-byte loads in locals ql, ql2 (low
   * nibbles) and qh (high bits): low nibbles of ql | qh bits 0-1, of ql2 | bits 2-3, high nibbles
   * of ql | bits 4-5, of ql2 | bits 6-7. The Q6_K kernels unpack their blocks with it (the resident
   * GEMV with 16-bit shifts to the same values: gemv_stored_resident_module.ts).
   */
  q6kGroup(k: number, ql: number, ql2: number, qh: number): this {
    switch (k) {
      case 0:
        return this.localGet(ql).constBytes(0x0f).v128And().localGet(qh).constBytes(0x03).v128And().i32Const(4).i16x8Shl().v128Or();
      case 1:
        return this.localGet(ql2).constBytes(0x0f).v128And().localGet(qh).bytesShl(2, 0x30).v128Or();
      case 2:
        return this.localGet(ql).bytesShrU(4).localGet(qh).constBytes(0x30).v128And().v128Or();
      default:
        return this.localGet(ql2).bytesShrU(4).localGet(qh).bytesShrU(2, 0x30).v128Or();
    }
  }
}

/**
 * The float16 values in the four u32 lanes on the stack (each 0 .. 0xffff) as float32, in eight
 * operations (halfLanes in gemm_stored_resident_module.ts takes fourteen): sign, exponent and
 * mantissa moved to their float32 places (shifted up 16, then arithmetically down 3: the sign
 * fills the 3 bits between, which the mask clears), times 2^112 to rebias the exponent, and where
 * the exponent is all ones the float32 one's bits or-ed in (times 2^112 the value is 2^16 x 1.m,
 * its mantissa the half's: so infinities and NaNs kept, without a select). The same values for
 * every input; a subnormal half costs the multiply a microcode assist on x86. `h` a v128 scratch local.
 */
export function halfLanesFast(f: StoredCode, h: number): void {
  f.localTee(h);
  finiteHalfLanes(f);
  f.localGet(h).i32x4Const(0x7c00).v128And().i32x4Const(0x7c00).i32x4Eq().i32x4Const(0x7f800000).v128And().v128Or();
}

/**
 * halfLanesFast's first four operations (the fields shifted and masked, times 2^112) without the
 * last four, which set an infinity's or NaN's all-ones exponent: exact for every finite float16,
 * subnormals too, so where the halves are known finite (the block GEMVs' `_finite` twins).
 */
export function finiteHalfLanes(f: StoredCode): void {
  f.i32Const(16)
    .i32x4Shl()
    .i32Const(3)
    .i32x4ShrS()
    .i32x4Const(0x8fffe000 | 0)
    .v128And()
    .f32x4Const(2 ** 112)
    .f32x4Mul();
}

/** Locals of the loops around a row's dot product (rowsLoop). */
export interface RowLocals {
  /** the row's running sum (v128), its read position in the weight row and in the activation row */
  readonly acc: number;
  readonly pw: number;
  readonly px: number;
  /** the activation row, the output for it, a counter */
  readonly xi: number;
  readonly yi: number;
  readonly i: number;
}

/**
 * The two outer loops (weight rows, then activation rows) of a GEMV whose parameters begin w, x, y,
 * n, nb, ldw, m, ldx, ldy (y[i * ldy + 4 r] = W[r, :] . x_i), around `dot`, which leaves the row's
 * sum in the v128 local `acc`, reading from locals pw (the weight row) and px (the activation row);
 * stored as (l0 + l1) + (l2 + l3) like the staged kernels. `before` runs once, before the loops. (Taking two or four weight rows at
 * once, each with its own sum, sharing the activation loads, was slower here: the same or up to 2x
 * slower on GPT-2's shapes, most on the 50257-row head streamed from memory.)
 */
export function rowsLoop(f: StoredCode, l: RowLocals, dot: () => void, options: { before?: () => void } = {}): void {
  const [W, X, Y, N, NB, LDW, M, LDX, LDY] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  f.block().localGet(N).i32Eqz().brIf(0).localGet(NB).i32Eqz().brIf(0).localGet(M).i32Eqz().brIf(0);
  options.before?.();
  f.loop(); // weight rows
  f.localGet(X).localSet(l.xi).localGet(Y).localSet(l.yi).localGet(M).localSet(l.i);
  f.loop(); // activation rows
  f.v128Const0().localSet(l.acc);
  f.localGet(W).localSet(l.pw).localGet(l.xi).localSet(l.px);
  dot();
  f.localGet(l.yi);
  f.localGet(l.acc).f32x4ExtractLane(0).localGet(l.acc).f32x4ExtractLane(1).f32Add();
  f.localGet(l.acc).f32x4ExtractLane(2).localGet(l.acc).f32x4ExtractLane(3).f32Add();
  f.f32Add();
  f.f32Store();
  f.localGet(l.xi).localGet(LDX).i32Add().localSet(l.xi);
  f.localGet(l.yi).localGet(LDY).i32Add().localSet(l.yi);
  f.localGet(l.i).i32Const(1).i32Sub().localTee(l.i).brIf(0);
  f.end();
  f.localGet(W).localGet(LDW).i32Add().localSet(W);
  f.localGet(Y).i32Const(4).i32Add().localSet(Y);
  f.localGet(N).i32Const(1).i32Sub().localTee(N).brIf(0);
  f.end().end();
}

/** acc += convert(i32 lanes on the stack) * x[offset] (x at local px). */
export function madd(f: StoredCode, acc: number, px: number, xOffset: number): void {
  f.f32x4ConvertI32x4S().localGet(px).v128Load(xOffset).f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
}

/** y = the four lanes of acc added pairwise, stored at local y, which then moves on by 4. */
function storeSum(f: StoredCode, acc: number, y: number): void {
  f.localGet(y);
  f.localGet(acc).f32x4ExtractLane(0).localGet(acc).f32x4ExtractLane(1).f32Add();
  f.localGet(acc).f32x4ExtractLane(2).localGet(acc).f32x4ExtractLane(3).f32Add();
  f.f32Add().f32Store();
  f.localGet(y).i32Const(4).i32Add().localSet(y);
}

function dotBlocks(kind: "q8_0" | "q4_0"): FuncDef {
  const [w, s, x, y, n, nb, ldw] = [0, 1, 2, 3, 4, 5, 6];
  const [acc, blk, pw, px, b, t, lo, hi] = [7, 8, 9, 10, 11, 12, 13, 14];
  const blockBytes = kind === "q8_0" ? 34 : 18;
  const f = new StoredCode();
  f.block().localGet(n).i32Eqz().brIf(0).localGet(nb).i32Eqz().brIf(0);
  f.loop(); // rows
  f.v128Const0().localSet(acc);
  f.localGet(w).localSet(pw).localGet(x).localSet(px).localGet(nb).localSet(b);
  f.loop(); // blocks
  f.v128Const0().localSet(blk);
  if (kind === "q8_0") {
    // 32 int8 at pw + 2, eight at a time sign-extended to i16x8, then to two i32x4 each
    for (let g = 0; g < 4; g++) {
      f.localGet(pw)
        .load8x8S(2 + 8 * g)
        .localTee(t)
        .i32x4ExtendLowI16x8S();
      madd(f, blk, px, 32 * g);
      f.localGet(t).i32x4ExtendHighI16x8S();
      madd(f, blk, px, 32 * g + 16);
    }
  } else {
    // 16 bytes at pw + 2: low nibbles are values 0..15, high nibbles 16..31, each minus 8
    f.localGet(pw).loadAny(2).localTee(t).constBytes(0x0f).v128And().constBytes(8).i8x16Sub().localSet(lo);
    f.localGet(t).bytesShrU(4).constBytes(8).i8x16Sub().localSet(hi);
    for (const [half, base] of [
      [lo, 0],
      [hi, 64],
    ] as const) {
      f.localGet(half).i16x8ExtendLowI8x16S().localTee(t).i32x4ExtendLowI16x8S();
      madd(f, blk, px, base);
      f.localGet(t).i32x4ExtendHighI16x8S();
      madd(f, blk, px, base + 16);
      f.localGet(half).i16x8ExtendHighI8x16S().localTee(t).i32x4ExtendLowI16x8S();
      madd(f, blk, px, base + 32);
      f.localGet(t).i32x4ExtendHighI16x8S();
      madd(f, blk, px, base + 48);
    }
  }
  // acc += block sum * the block's scale
  f.localGet(blk).localGet(s).v128Load32Splat().f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
  f.localGet(s).i32Const(4).i32Add().localSet(s);
  f.localGet(pw).i32Const(blockBytes).i32Add().localSet(pw);
  f.localGet(px).i32Const(128).i32Add().localSet(px);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
  storeSum(f, acc, y);
  f.localGet(w).localGet(ldw).i32Add().localSet(w);
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
  return {
    name: `dot_${kind}`,
    params: [i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, v128, i32, i32, i32, v128, v128, v128],
    body: f,
  };
}

/**
 * Rows of halves: four sums a row, sum g taking groups 4 i + g of the first 4 floor(k4 / 4)
 * groups, added as ((s0 + s1) + (s2 + s3)); the last k4 mod 4 groups then added to that one at a
 * time (as the resident kernel's, which unrolls by four groups: four chains of additions overlap
 * where one was the bound).
 */
function dotHalf(kind: "f16" | "bf16"): FuncDef {
  const [w, x, y, n, k4, ldw] = [0, 1, 2, 3, 4, 5];
  const [acc, pw, px, j, v, s1, s2, s3, rest] = [6, 7, 8, 9, 10, 11, 12, 13, 14];
  const sums = [acc, s1, s2, s3];
  const f = new StoredCode();
  /** sum += the four halves at pw, as float32, times x at px; both move on by a group. */
  const group = (sum: number): void => {
    f.localGet(pw).load16x4U().localSet(v);
    if (kind === "bf16") {
      f.localGet(v).i32Const(16).i32x4Shl();
    } else {
      f.halfLanes(v);
    }
    f.localGet(px).v128Load().f32x4Mul().localGet(sum).f32x4Add().localSet(sum);
    f.localGet(pw).i32Const(8).i32Add().localSet(pw);
    f.localGet(px).i32Const(16).i32Add().localSet(px);
  };
  f.block().localGet(n).i32Eqz().brIf(0).localGet(k4).i32Eqz().brIf(0);
  f.loop(); // rows
  for (const sum of sums) f.v128Const0().localSet(sum);
  f.localGet(w).localSet(pw).localGet(x).localSet(px);
  f.localGet(k4).i32Const(3).i32And().localSet(rest);
  f.localGet(k4).i32Const(2).i32ShrU().localSet(j);
  f.block().localGet(j).i32Eqz().brIf(0);
  f.loop(); // four groups of four
  for (const sum of sums) group(sum);
  f.localGet(j).i32Const(1).i32Sub().localTee(j).brIf(0);
  f.end().end();
  f.localGet(acc).localGet(s1).f32x4Add().localGet(s2).localGet(s3).f32x4Add().f32x4Add().localSet(acc);
  f.block().localGet(rest).i32Eqz().brIf(0);
  f.loop(); // the rest, a group at a time
  group(acc);
  f.localGet(rest).i32Const(1).i32Sub().localTee(rest).brIf(0);
  f.end().end();
  storeSum(f, acc, y);
  f.localGet(w).localGet(ldw).i32Add().localSet(w);
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
  return {
    name: `dot_${kind}`,
    params: [i32, i32, i32, i32, i32, i32],
    locals: [v128, i32, i32, i32, v128, v128, v128, v128, i32],
    body: f,
  };
}

/** acc += (16 int8 lanes of local q, as float32) . x[xOffset ..] times the float32 at s + sOffset. */
function dot16(
  f: StoredCode,
  q: number,
  t: number,
  sub: number,
  acc: number,
  px: number,
  xOffset: number,
  s: number,
  sOffset: number,
): void {
  f.v128Const0().localSet(sub);
  f.localGet(q).i16x8ExtendLowI8x16S().localTee(t).i32x4ExtendLowI16x8S();
  madd(f, sub, px, xOffset);
  f.localGet(t).i32x4ExtendHighI16x8S();
  madd(f, sub, px, xOffset + 16);
  f.localGet(q).i16x8ExtendHighI8x16S().localTee(t).i32x4ExtendLowI16x8S();
  madd(f, sub, px, xOffset + 32);
  f.localGet(t).i32x4ExtendHighI16x8S();
  madd(f, sub, px, xOffset + 48);
  f.localGet(sub).localGet(s).v128Load32Splat(sOffset).f32x4Mul().localGet(acc).f32x4Add().localSet(acc);
}

function dotQ6K(): FuncDef {
  const [w, s, x, y, n, nb, ldw] = [0, 1, 2, 3, 4, 5, 6];
  const [acc, pw, px, b, ql, ql2, qh, q, t, sub] = [7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const f = new StoredCode();
  f.block().localGet(n).i32Eqz().brIf(0).localGet(nb).i32Eqz().brIf(0);
  f.loop(); // rows
  f.v128Const0().localSet(acc);
  f.localGet(w).localSet(pw).localGet(x).localSet(px).localGet(nb).localSet(b);
  f.loop(); // super-blocks of 256
  for (let h = 0; h < 2; h++) {
    for (let lhalf = 0; lhalf < 2; lhalf++) {
      const l = 16 * lhalf;
      f.localGet(pw)
        .loadAny(64 * h + l)
        .localSet(ql);
      f.localGet(pw)
        .loadAny(64 * h + 32 + l)
        .localSet(ql2);
      f.localGet(pw)
        .loadAny(128 + 32 * h + l)
        .localSet(qh);
      for (let k = 0; k < 4; k++) {
        f.q6kGroup(k, ql, ql2, qh);
        f.constBytes(32).i8x16Sub().localSet(q);
        const subIndex = 8 * h + 2 * k + lhalf; // which 16 values: x offset and scale
        dot16(f, q, t, sub, acc, px, 64 * subIndex, s, 4 * subIndex);
      }
    }
  }
  f.localGet(s).i32Const(64).i32Add().localSet(s);
  f.localGet(pw).i32Const(210).i32Add().localSet(pw);
  f.localGet(px).i32Const(1024).i32Add().localSet(px);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
  storeSum(f, acc, y);
  f.localGet(w).localGet(ldw).i32Add().localSet(w);
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
  return {
    name: "dot_q6_k",
    params: [i32, i32, i32, i32, i32, i32, i32],
    locals: [v128, i32, i32, i32, v128, v128, v128, v128, v128, v128],
    body: f,
  };
}

export function gemvStoredModule(): Uint8Array {
  return emitModule([dotBlocks("q8_0"), dotBlocks("q4_0"), dotHalf("f16"), dotHalf("bf16"), dotQ6K()]);
}
