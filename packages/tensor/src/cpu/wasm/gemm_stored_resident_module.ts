import { f32, i32, v128, type FuncDef, type ValType } from "./encoder.js";
import { QUANT_BLOCKS } from "../../dtype.js";
import { gemmResidentFunctions } from "./gemm_resident_module.js";
import { IQ4_VALUES } from "../../quant/iq4.js";
import { StoredCode } from "./gemv_stored_module.js";
import { isLattice, LATTICE_DTYPES, latticeD, latticeLevels, latticeScale, latticeSubBlock, type LatticeDType } from "./lattice_code.js";

/**
 * The GEMM over a weight kept as stored (prefill: many activation rows), in the resident heap.
 * The module holds the float32 GEMM of gemm_resident_module.ts (its functions first, at the same
 * positions, so their calls to each other stay right) and, per stored dtype:
 *  - `decode_<dtype>(w, ldw, n, nb, dst)`: n rows of the weight (ldw bytes apart, nb blocks or
 *    groups of four halves each) decoded to float32 rows one after another at dst: the same
 *    values as the JS decoders (kernels/stored_rows.ts), bit for bit;
 *  - `gemm_<dtype>(w, ldw, nb, a, aRow, c, ldc, m, k, j0, j1, nc, panel, pack, tile, packedA)`:
 *    C's columns [j0, j1) of C = A W^T, nc of W's rows at a time decoded into `panel` (scratch
 *    for nc x k floats) and multiplied by the float32 GEMM (C[r, j] at c + r*ldc + j*4, A's
 *    rows aRow bytes apart; pack, tile, packedA the GEMM's scratch; the lattice types' table after).
 * Each C element is then the float32 GEMM's sum over the decoded weight, whatever panel or
 * thread it falls in: the same bits as decoding the whole weight and running the float32 GEMM,
 * for any split. Addresses and strides in bytes.
 */
// biome-ignore format: the opcode methods are a table, one line each
class PanelCode extends StoredCode {
  i32Load8S(offset = 0): this { this.bytes.push(0x2c, ...this.at(offset)); return this; }
}

export type PanelDType =
  | "q8_0"
  | "q4_0"
  | "float16"
  | "bfloat16"
  | "q6_k"
  | "q4_k"
  | "q5_k"
  | "q4_1"
  | "q5_1"
  | "q5_0"
  | "q2_k"
  | "q3_k"
  | "iq4_nl"
  | "iq4_xs"
  | LatticeDType;
export const PANEL_DTYPES: readonly PanelDType[] = [
  "q8_0",
  "q4_0",
  "float16",
  "bfloat16",
  "q6_k",
  "q4_k",
  "q5_k",
  "q4_1",
  "q5_1",
  "q5_0",
  "q2_k",
  "q3_k",
  "iq4_nl",
  "iq4_xs",
  ...LATTICE_DTYPES,
];

/**
 * The float16 values in the four u32 lanes of local `v` (each 0 .. 0xffff) onto the stack as
 * float32, exactly as the JS decoder gives them: normals by rebasing the exponent with an integer
 * add, subnormals as their 10-bit integer times 2^-24, infinities and NaNs kept, the sign moved up
 * 16. No float operation sees a float32 subnormal (each costs a microcode assist on x86).
 */
function halfLanes(f: PanelCode, v: number): void {
  f.localGet(v).i32x4Const(0x7fff).v128And().i32Const(13).i32x4Shl().i32x4Const(0x7f800000).v128Or();
  f.localGet(v)
    .i32x4Const(0x7fff)
    .v128And()
    .f32x4ConvertI32x4S()
    .f32x4Const(2 ** -24)
    .f32x4Mul();
  f.localGet(v)
    .i32x4Const(0x7fff)
    .v128And()
    .i32Const(13)
    .i32x4Shl()
    .i32x4Const(112 << 23)
    .i32x4Add();
  // (bitselect takes its first operand where the mask is set)
  f.localGet(v).i32x4Const(0x7c00).v128And().v128Const0().i32x4Eq().v128Bitselect();
  f.localGet(v).i32x4Const(0x7c00).v128And().i32x4Const(0x7c00).i32x4Eq().v128Bitselect();
  f.localGet(v).i32x4Const(0x8000).v128And().i32Const(16).i32x4Shl().v128Or();
}

/** The float16 at local `addr` + offset, as float32 in all four lanes (`v` a v128 scratch local). */
function halfSplat(f: PanelCode, addr: number, offset: number, v: number): void {
  f.localGet(addr).load16Splat(offset).i32x4Const(0xffff).v128And().localSet(v);
  halfLanes(f, v);
}

/**
 * Stores the 16 int8 lanes of local `q` as float32 times `scale` (a v128 local) at local `dst` +
 * offset (64 bytes); `minus`, if given, a v128 local subtracted after the product (Q4_K's min).
 */
function storeBytes(f: PanelCode, q: number, t: number, scale: number, dst: number, offset: number, minus?: number): void {
  // (t is reused: each quarter is stored before the next is made)
  for (let k = 0; k < 4; k++) {
    f.int8Quarter(q, k).localGet(scale).f32x4Mul();
    if (minus !== undefined) f.localGet(minus).f32x4Sub();
    f.localSet(t);
    f.localGet(dst)
      .localGet(t)
      .v128Store(offset + 16 * k);
  }
}

// decode_*: parameters, then each one's locals after them
const [W, LDW, N, NB, DST] = [0, 1, 2, 3, 4];

/** The rows loop around `block`, run nb times a row with pw at the block and DST moving on. */
function decodeRows(f: PanelCode, pw: number, b: number, blockBytes: number, dstBytes: number, block: () => void): void {
  f.block().localGet(N).i32Eqz().brIf(0).localGet(NB).i32Eqz().brIf(0);
  f.loop(); // rows
  f.localGet(W).localSet(pw).localGet(NB).localSet(b);
  f.loop(); // blocks
  block();
  f.localGet(pw).i32Const(blockBytes).i32Add().localSet(pw);
  f.localGet(DST).i32Const(dstBytes).i32Add().localSet(DST);
  f.localGet(b).i32Const(1).i32Sub().localTee(b).brIf(0);
  f.end();
  f.localGet(W).localGet(LDW).i32Add().localSet(W);
  f.localGet(N).i32Const(1).i32Sub().localTee(N).brIf(0);
  f.end().end();
}

function decodeQ8(): FuncDef {
  const [pw, b, s, hv] = [5, 6, 7, 8];
  const f = new PanelCode();
  decodeRows(f, pw, b, 34, 128, () => {
    halfSplat(f, pw, 0, hv);
    f.localSet(s);
    for (let g = 0; g < 4; g++) {
      for (const high of [false, true]) {
        f.localGet(DST);
        f.localGet(pw).load8x8S(2 + 8 * g);
        if (high) f.i32x4ExtendHighI16x8S();
        else f.i32x4ExtendLowI16x8S();
        f.f32x4ConvertI32x4S()
          .localGet(s)
          .f32x4Mul()
          .v128Store(32 * g + (high ? 16 : 0));
      }
    }
  });
  return { name: "decode_q8_0", params: [i32, i32, i32, i32, i32], locals: [i32, i32, v128, v128], body: f };
}

/** Q4_0 (18 bytes: f16 d, nibbles) and Q5_0 (22: d, 32 fifth bits, nibbles): value = d (q - 8), d (q - 16). */
function decodeQ4(kind: "q4_0" | "q5_0"): FuncDef {
  const [pw, b, s, t, hv, lo, hi] = [5, 6, 7, 8, 9, 10, 11];
  const five = kind === "q5_0";
  const f = new PanelCode();
  decodeRows(f, pw, b, five ? 22 : 18, 128, () => {
    halfSplat(f, pw, 0, hv);
    f.localSet(s);
    f.localGet(pw)
      .loadAny(five ? 6 : 2)
      .localTee(t)
      .constBytes(0x0f)
      .v128And();
    if (five) f.fifthBitsOfWord(pw, 2, 0).v128Or();
    f.constBytes(five ? 16 : 8)
      .i8x16Sub()
      .localSet(lo);
    f.localGet(t).bytesShrU(4);
    if (five) f.fifthBitsOfWord(pw, 2, 1).v128Or();
    f.constBytes(five ? 16 : 8)
      .i8x16Sub()
      .localSet(hi);
    storeBytes(f, lo, t, s, DST, 0);
    storeBytes(f, hi, t, s, DST, 64);
  });
  return { name: `decode_${kind}`, params: [i32, i32, i32, i32, i32], locals: [i32, i32, v128, v128, v128, v128, v128], body: f };
}

/**
 * IQ4_NL (18 bytes: f16 d, nibbles) and IQ4_XS (136 bytes: f16 d, a u16 and 4 bytes of 6-bit
 * scales, eight 16-byte nibble blocks): each nibble becomes its level by a byte shuffle of the
 * level table (i8x16.swizzle), then value = d level (IQ4_XS: (d (scale - 32)) level, the scale's
 * product exact in float32), one rounding: the JS decoders' values.
 */
function decodeIQ4(kind: "iq4_nl" | "iq4_xs"): FuncDef {
  const [pw, b, s, t, hv, q, hs, d] = [5, 6, 7, 8, 9, 10, 11, 12];
  const xs = kind === "iq4_xs";
  const f = new PanelCode();
  const levels = IQ4_VALUES.map((v) => v & 0xff);
  /** The 32 values of the nibbles at pw + at, times the scale in local s, at DST + dst. */
  const block = (at: number, dst: number): void => {
    for (const half of [0, 1] as const) {
      f.bytesConst(levels).localGet(pw).loadAny(at);
      if (half === 1) f.bytesShrU(4);
      else f.constBytes(0x0f).v128And();
      f.swizzle().localSet(q);
      storeBytes(f, q, t, s, DST, dst + 64 * half);
    }
  };
  decodeRows(f, pw, b, xs ? 136 : 18, xs ? 1024 : 128, () => {
    if (!xs) {
      halfSplat(f, pw, 0, hv);
      f.localSet(s);
      block(2, 0);
      return;
    }
    halfSplat(f, pw, 0, hv);
    f.f32x4ExtractLane(0).localSet(d);
    f.localGet(pw).i32Load16U(2).localSet(hs);
    for (let j = 0; j < 8; j++) {
      f.iq4xsScale(pw, hs, j).f32ConvertI32S().localGet(d).f32Mul().f32x4Splat().localSet(s);
      block(8 + 16 * j, 128 * j);
    }
  });
  return {
    name: `decode_${kind}`,
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, v128, v128, v128, v128, i32, f32],
    body: f,
  };
}

/**
 * Q4_1 / Q5_1 blocks (20 / 24 bytes: f16 d and m, Q5_1's 32 fifth bits, nibbles): value = d q + m,
 * the product rounded, then the sum, as dequantize_row_q4_1 / _q5_1 (storeBytes subtracts -m).
 */
function decodeMin(kind: "q4_1" | "q5_1"): FuncDef {
  const [pw, b, s, t, hv, q, m] = [5, 6, 7, 8, 9, 10, 11];
  const fifth = kind === "q5_1";
  const f = new PanelCode();
  decodeRows(f, pw, b, fifth ? 24 : 20, 128, () => {
    halfSplat(f, pw, 0, hv);
    f.localSet(s);
    halfSplat(f, pw, 2, hv);
    f.f32x4Neg().localSet(m);
    for (const half of [0, 1] as const) {
      f.localGet(pw).loadAny(fifth ? 8 : 4);
      if (half === 1) f.bytesShrU(4);
      else f.constBytes(0x0f).v128And();
      if (fifth) f.fifthBitsOfWord(pw, 4, half).v128Or();
      f.localSet(q);
      storeBytes(f, q, t, s, DST, 64 * half, m);
    }
  });
  return { name: `decode_${kind}`, params: [i32, i32, i32, i32, i32], locals: [i32, i32, v128, v128, v128, v128, v128], body: f };
}

function decodeHalf(kind: "f16" | "bf16"): FuncDef {
  const [pw, b, v] = [5, 6, 7];
  const f = new PanelCode();
  decodeRows(f, pw, b, 8, 16, () => {
    f.localGet(DST);
    if (kind === "bf16") {
      f.localGet(pw).load16x4U().i32Const(16).i32x4Shl();
    } else {
      f.localGet(pw).load16x4U().localSet(v);
      halfLanes(f, v);
    }
    f.v128Store();
  });
  return {
    name: kind === "f16" ? "decode_float16" : "decode_bfloat16",
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, v128],
    body: f,
  };
}

/**
 * Q6_K super-blocks of 256 (210 bytes: 128 of low nibbles, 64 of high bit pairs, 16 int8 scales,
 * f16 d): value = (d * scale, exact in float32) * q, one rounding as dequantize_row_q6_K's.
 */
function decodeQ6K(): FuncDef {
  const [pw, b, d, ql, ql2, qh, q, t, sc, hv] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14];
  const f = new PanelCode();
  decodeRows(f, pw, b, 210, 1024, () => {
    halfSplat(f, pw, 208, hv);
    f.f32x4ExtractLane(0).localSet(d);
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
          f.localGet(pw)
            .i32Load8S(192 + 8 * h + 2 * k + lhalf)
            .f32ConvertI32S()
            .localGet(d)
            .f32Mul()
            .f32x4Splat()
            .localSet(sc);
          storeBytes(f, q, t, sc, DST, 4 * (128 * h + 32 * k + l));
        }
      }
    }
  });
  return {
    name: "decode_q6_k",
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, f32, v128, v128, v128, v128, v128, v128, v128],
    body: f,
  };
}

/**
 * Q4_K super-blocks of 256 (144 bytes: f16 d, f16 dmin, 12 bytes of 6-bit scales and mins for 8
 * sub-blocks of 32, 128 bytes of nibbles): value = (d * scale) * q - dmin * min, the products
 * exact in float32 (as dequantize_row_q4_K's), one rounding at the subtraction. Q5_K (176 bytes)
 * has 32 bytes of fifth bits before the nibbles: bit j of byte l is 16 for value l % 32 of sub-block j.
 */
function decodeScaleMin(dtype: "q4_k" | "q5_k"): FuncDef {
  const [pw, b, d, dmin, u, q, t, dv, mv, dv2, mv2, hv, qh] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17];
  const fifth = dtype === "q5_k";
  const nibbles = fifth ? 48 : 16;
  const f = new PanelCode();
  const byte = (o: number): PanelCode => f.localGet(pw).i32Load8U(4 + o);
  /** get_scale_min_k4(j): the 6-bit scale (min: false) or min of sub-block j, as an i32. */
  const scaleMin = (j: number, min: boolean): void => {
    if (j < 4)
      byte(min ? j + 4 : j)
        .i32Const(63)
        .i32And();
    else if (!min) {
      byte(j + 4)
        .i32Const(15)
        .i32And();
      byte(j - 4)
        .i32Const(6)
        .i32ShrU()
        .i32Const(4)
        .i32Shl()
        .i32Or();
    } else {
      byte(j + 4)
        .i32Const(4)
        .i32ShrU();
      byte(j).i32Const(6).i32ShrU().i32Const(4).i32Shl().i32Or();
    }
  };
  const splatScaled = (j: number, min: boolean, by: number, into: number): void => {
    scaleMin(j, min);
    f.f32ConvertI32U().localGet(by).f32Mul().f32x4Splat().localSet(into);
  };
  decodeRows(f, pw, b, fifth ? 176 : 144, 1024, () => {
    halfSplat(f, pw, 0, hv);
    f.f32x4ExtractLane(0).localSet(d);
    halfSplat(f, pw, 2, hv);
    f.f32x4ExtractLane(0).localSet(dmin);
    for (let pair = 0; pair < 4; pair++) {
      splatScaled(2 * pair, false, d, dv);
      splatScaled(2 * pair, true, dmin, mv);
      splatScaled(2 * pair + 1, false, d, dv2);
      splatScaled(2 * pair + 1, true, dmin, mv2);
      for (let half = 0; half < 2; half++) {
        if (fifth)
          f.localGet(pw)
            .loadAny(16 + 16 * half)
            .localSet(qh);
        f.localGet(pw)
          .loadAny(nibbles + 32 * pair + 16 * half)
          .localTee(u)
          .constBytes(0x0f)
          .v128And();
        if (fifth) f.fifthBit(qh, 2 * pair).v128Or();
        f.localSet(q);
        storeBytes(f, q, t, dv, DST, 4 * (64 * pair + 16 * half), mv);
        f.localGet(u).bytesShrU(4);
        if (fifth) f.fifthBit(qh, 2 * pair + 1).v128Or();
        f.localSet(q);
        storeBytes(f, q, t, dv2, DST, 4 * (64 * pair + 32 + 16 * half), mv2);
      }
    }
  });
  return {
    name: `decode_${dtype}`,
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, f32, f32, v128, v128, v128, v128, v128, v128, v128, v128, v128],
    body: f,
  };
}

/**
 * Q2_K (84 bytes: 16 bytes of 4-bit scales and mins, 64 bytes of 2-bit quants, f16 d and dmin)
 * and Q3_K (110 bytes: 32 bytes of third bits, the 64 bytes of quants, 12 bytes of 6-bit scales,
 * f16 d), 16 values a scale. Group g's quants are bits g & 6 of the 16 bytes at 32 (g >> 3) +
 * 16 (g & 1); Q3_K's third bit is bit g >> 1 of the 16 bytes at 16 (g & 1) (unset: the level less 4).
 * Q2_K: value = (d sc) q - dmin m, the products exact in float32, one rounding at the subtraction;
 * Q3_K: value = (d (sc - 32)) q, one rounding: the JS decoders' values.
 */
function decodeLowBitK(dtype: "q2_k" | "q3_k"): FuncDef {
  const [pw, b, d, dmin, q, t, dv, mv, hv, hm0, hm1] = [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15];
  const quants = [16, 17, 18, 19];
  const q3 = dtype === "q3_k";
  const f = new PanelCode();
  const byte = (o: number): PanelCode => f.localGet(pw).i32Load8U(o);
  decodeRows(f, pw, b, q3 ? 110 : 84, 1024, () => {
    halfSplat(f, pw, q3 ? 108 : 80, hv);
    f.f32x4ExtractLane(0).localSet(d);
    if (!q3) {
      halfSplat(f, pw, 82, hv);
      f.f32x4ExtractLane(0).localSet(dmin);
    }
    for (let k = 0; k < 4; k++)
      f.localGet(pw)
        .loadAny((q3 ? 32 : 16) + 16 * k)
        .localSet(quants[k]!);
    if (q3) {
      f.localGet(pw).loadAny(0).localSet(hm0);
      f.localGet(pw).loadAny(16).localSet(hm1);
    }
    for (let g = 0; g < 16; g++) {
      // Q3_K: the levels -4..3 and sub-block g's scale less 32; Q2_K: the levels 0..3
      f.lowBitGroup(quants[2 * (g >> 3) + (g & 1)]!, g, q3 ? (g & 1 ? hm1 : hm0) : undefined);
      if (q3) {
        f.q3kScale(pw, g).f32ConvertI32S().localGet(d).f32Mul().f32x4Splat().localSet(dv);
      } else {
        byte(g).i32Const(15).i32And().f32ConvertI32S().localGet(d).f32Mul().f32x4Splat().localSet(dv);
        byte(g).i32Const(4).i32ShrU().f32ConvertI32S().localGet(dmin).f32Mul().f32x4Splat().localSet(mv);
      }
      f.localSet(q);
      storeBytes(f, q, t, dv, DST, 64 * g, q3 ? undefined : mv);
    }
  });
  return {
    name: `decode_${dtype}`,
    params: [i32, i32, i32, i32, i32],
    locals: [i32, i32, f32, f32, v128, v128, v128, v128, v128, v128, v128, v128, v128, v128, v128],
    body: f,
  };
}

/**
 * The lattice types (lattice_code.ts; 256 values a block), their table's address the sixth
 * parameter: value = float32(scale * level) for every 16 values, the JS decoders' values.
 */
function decodeLattice(kind: LatticeDType): FuncDef {
  const GRID = 5;
  const [pw, b, a, bb, v, m, q, t, s, d, aux] = [6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
  const L = { pw, grid: GRID, a, b: bb, v, m, aux };
  const f = new PanelCode();
  decodeRows(f, pw, b, QUANT_BLOCKS[kind].bytes, 1024, () => {
    latticeD(f, kind, L);
    f.localSet(d);
    for (let j = 0; j < 8; j++) {
      latticeSubBlock(f, kind, L, j);
      for (let g = 0; g < 2; g++) {
        latticeScale(f, kind, L, d, j, g);
        f.f32x4Splat().localSet(s);
        latticeLevels(f, kind, L, j, g);
        f.localSet(q);
        storeBytes(f, q, t, s, DST, 4 * (32 * j + 16 * g));
      }
    }
  });
  return {
    name: `decode_${kind}`,
    params: [i32, i32, i32, i32, i32, i32],
    locals: [i32, i32, i32, i32, v128, v128, v128, v128, v128, f32, i32],
    body: f,
  };
}

/**
 * The driver: panels of nc weight rows decoded by function `decode`, then the GEMM (function `gemm`)
 * on each. The lattice types take their table's address as a 17th parameter, passed to `decode`.
 */
function gemmStored(dtype: PanelDType, decode: number, gemm: number): FuncDef {
  const [w, ldw, nb, a, aRow, c, ldc, m, k, j0, j1, nc, panel, pack, tile, packedA] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  ];
  const grid = isLattice(dtype) ? 16 : null;
  const [jc, cols] = grid === null ? [16, 17] : [17, 18];
  const f = new PanelCode();
  f.localGet(j0).localSet(jc);
  f.block().loop();
  f.localGet(jc).localGet(j1).i32GeU().brIf(1);
  // cols = min(nc, j1 - jc)
  f.localGet(nc).localGet(j1).localGet(jc).i32Sub().localGet(nc).localGet(j1).localGet(jc).i32Sub().i32LtU().select().localSet(cols);
  f.localGet(w).localGet(jc).localGet(ldw).i32Mul().i32Add().localGet(ldw).localGet(cols).localGet(nb).localGet(panel);
  if (grid !== null) f.localGet(grid);
  f.call(decode);
  // the panel is W's rows [jc, jc + cols) as floats: B = its transpose (k step 4 bytes, column k*4)
  f.localGet(a).localGet(aRow).i32Const(4).localGet(panel).i32Const(4).localGet(k).i32Const(4).i32Mul();
  f.localGet(c).localGet(jc).i32Const(4).i32Mul().i32Add().localGet(ldc).localGet(m).localGet(k);
  f.i32Const(0).localGet(cols).localGet(pack).localGet(tile).localGet(packedA).call(gemm);
  f.localGet(jc).localGet(nc).i32Add().localSet(jc);
  f.br(0).end().end();
  return { name: `gemm_${dtype}`, params: new Array<ValType>(grid === null ? 16 : 17).fill(i32), locals: [i32, i32], body: f };
}

export function storedGemmFunctions(fma: boolean): FuncDef[] {
  const base = gemmResidentFunctions(fma);
  const gemm = base.findIndex((d) => d.name === "gemm");
  const decoders: Record<PanelDType, FuncDef> = {
    q8_0: decodeQ8(),
    q4_0: decodeQ4("q4_0"),
    float16: decodeHalf("f16"),
    bfloat16: decodeHalf("bf16"),
    q6_k: decodeQ6K(),
    q4_k: decodeScaleMin("q4_k"),
    q5_k: decodeScaleMin("q5_k"),
    q4_1: decodeMin("q4_1"),
    q5_1: decodeMin("q5_1"),
    q5_0: decodeQ4("q5_0"),
    q2_k: decodeLowBitK("q2_k"),
    q3_k: decodeLowBitK("q3_k"),
    iq4_nl: decodeIQ4("iq4_nl"),
    iq4_xs: decodeIQ4("iq4_xs"),
    ...(Object.fromEntries(LATTICE_DTYPES.map((d) => [d, decodeLattice(d)])) as Record<LatticeDType, FuncDef>),
  };
  const decodeAt = (dtype: PanelDType): number => base.length + PANEL_DTYPES.indexOf(dtype);
  return [...base, ...PANEL_DTYPES.map((d) => decoders[d]), ...PANEL_DTYPES.map((d) => gemmStored(d, decodeAt(d), gemm))];
}
