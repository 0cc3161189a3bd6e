import type { StoredCode } from "./gemv_stored_module.js";

/**
 * WebAssembly for llama.cpp's lattice types (quant/iq1.ts, iq2.ts, iq3.ts: 256 values a block, each
 * group of 8 values one entry of a table with 8 signs, or for IQ3 two entries of 4), shared by the
 * prefill panel decoders, the resident float GEMV and the int8 GEMV of "ggml" mode. The table is in the kernel's memory (the caller
 * copies it there: quant/iq_grids.ts's bytes) at the i32 local `grid`. A block is taken 16 values at
 * a time (half g of sub-block j of 32): `latticeLevels` pushes them as 16 int8 lanes, signs applied
 * (IQ1: 8 level + 1 or - 1, so that the scale is d / 8), `latticeScale` their float32 scale, so that
 * value = float32(scale * level), one rounding: the JS decoders' values.
 */
export type LatticeDType = "iq2_xxs" | "iq2_xs" | "iq2_s" | "iq3_xxs" | "iq3_s" | "iq1_s" | "iq1_m";
export const LATTICE_DTYPES: readonly LatticeDType[] = ["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"];

export function isLattice(dtype: string): dtype is LatticeDType {
  return (LATTICE_DTYPES as readonly string[]).includes(dtype);
}

/**
 * Locals the helpers use: the block (pw) and table (grid) addresses, two i32 and two v128 scratch,
 * and `aux`, an i32 latticeSubBlock fills (IQ2_XXS / IQ3_XXS: the sub-block's u32 of signs and scale).
 */
export interface LatticeLocals {
  readonly pw: number;
  readonly grid: number;
  readonly a: number;
  readonly b: number;
  readonly v: number;
  readonly m: number;
  readonly aux: number;
}

/** Where IQ2_XXS's / IQ3_XXS's u32 of four 7-bit sign groups and a 4-bit scale sits for sub-block j. */
function auxAt(kind: LatticeDType, j: number): number {
  return kind === "iq2_xxs" ? 6 + 8 * j : 66 + 4 * j;
}

/** Call before sub-block j's latticeLevels / latticeIntScale: IQ2_XXS / IQ3_XXS load their u32 once into L.aux. */
export function latticeSubBlock(f: StoredCode, kind: LatticeDType, L: LatticeLocals, j: number): void {
  if (kind === "iq2_xxs" || kind === "iq3_xxs") f.localGet(L.pw).i32Load(auxAt(kind, j)).localSet(L.aux);
}

/** Sign bits of each lane of a pair of groups: lanes 0-7 take byte 0's bits 0-7, lanes 8-15 byte 1's. */
const LANE_BITS = [1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128];
/** Byte 0 of a splat to lanes 0-7, byte 1 to lanes 8-15. */
const PAIR = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1];

/** Pushes the block's d (float32): the f16 at byte 0, or IQ1_M's spread over its scale words' top nibbles. */
export function latticeD(f: StoredCode, kind: LatticeDType, L: LatticeLocals): void {
  if (kind === "iq1_m") {
    f.localGet(L.pw).i32Load16U(48).i32Const(12).i32ShrU();
    f.localGet(L.pw).i32Load16U(50).i32Const(8).i32ShrU().i32Const(0xf0).i32And().i32Or();
    f.localGet(L.pw).i32Load16U(52).i32Const(4).i32ShrU().i32Const(0xf00).i32And().i32Or();
    f.localGet(L.pw).i32Load16U(54).i32Const(0xf000).i32And().i32Or();
  } else {
    f.localGet(L.pw).i32Load16U(0);
  }
  f.localSet(L.a).halfOf(L.a, L.b).f32ReinterpretI32();
}

/**
 * Every lattice type's scale is d times an odd integer k times a power of two (IQ2: d (0.5 + s) / 4
 * = d (2 s + 1) / 8; IQ3_XXS: d (2 s + 1) / 4; IQ3_S: d (1 + 2 s); IQ1: d (2 s + 1), over levels
 * made 8 times larger): this power of two. (d k is exact in float32 twice d (0.5 + s), so
 * float32(d k) times it is ggml's scale bit for bit.)
 */
export const LATTICE_FACTOR: Record<LatticeDType, number> = {
  iq2_xxs: 0.125,
  iq2_xs: 0.125,
  iq2_s: 0.125,
  iq3_xxs: 0.25,
  iq3_s: 1,
  iq1_s: 0.125,
  iq1_m: 0.125,
};

/** Whether the type has a scale per 16 values (else per 32: the same for both halves of a sub-block). */
export function scalePerSixteen(kind: LatticeDType): boolean {
  return kind === "iq2_xs" || kind === "iq2_s" || kind === "iq1_m";
}

/** Pushes the odd integer k (i32) of half g of sub-block j's scale, d k LATTICE_FACTOR. */
export function latticeIntScale(f: StoredCode, kind: LatticeDType, L: LatticeLocals, j: number, g: number): void {
  switch (kind) {
    case "iq2_xxs":
    case "iq3_xxs": // the top 4 bits of the sub-block's u32 (latticeSubBlock)
      f.localGet(L.aux).i32Const(28).i32ShrU();
      break;
    case "iq2_xs":
    case "iq2_s": // a 4-bit s per 16 values
      f.localGet(L.pw)
        .i32Load8U((kind === "iq2_xs" ? 66 : 74) + j)
        .i32Const(4 * g)
        .i32ShrU()
        .i32Const(15)
        .i32And();
      break;
    case "iq3_s": // a 4-bit s per 32 values, two to a byte
      f.localGet(L.pw)
        .i32Load8U(106 + (j >> 1))
        .i32Const(4 * (j & 1))
        .i32ShrU()
        .i32Const(15)
        .i32And();
      break;
    case "iq1_s": // bits 12-14 of the sub-block's u16
      f.localGet(L.pw)
        .i32Load16U(34 + 2 * j)
        .i32Const(12)
        .i32ShrU()
        .i32Const(7)
        .i32And();
      break;
    case "iq1_m": // a 3-bit s per 16 values, four to a u16
      f.localGet(L.pw)
        .i32Load16U(48 + 2 * (j >> 1))
        .i32Const(6 * (j & 1) + 3 * g)
        .i32ShrU()
        .i32Const(7)
        .i32And();
      break;
  }
  f.i32Const(1).i32Shl().i32Const(1).i32Add();
}

/** Pushes the float32 scale of half g of sub-block j (IQ1: of levels 8 times larger), from the block's d in f32 local `d`. */
export function latticeScale(f: StoredCode, kind: LatticeDType, L: LatticeLocals, d: number, j: number, g: number): void {
  latticeIntScale(f, kind, L, j, g);
  f.f32ConvertI32S().localGet(d).f32Mul();
  if (LATTICE_FACTOR[kind] !== 1) f.f32Const(LATTICE_FACTOR[kind]).f32Mul();
}

/** Pushes the table index of group l (0-3, of 8 values; IQ3: `part` 0 or 1, of 4) of sub-block j. */
function entryIndex(f: StoredCode, kind: LatticeDType, pw: number, j: number, l: number, part: number): void {
  const byte = (at: number): StoredCode => f.localGet(pw).i32Load8U(at);
  /** or-s (bits of the byte at `at` >> shift) & mask, moved up 8. */
  const high = (at: number, shift: number, mask: number): void => {
    byte(at);
    if (shift) f.i32Const(shift).i32ShrU();
    f.i32Const(mask).i32And().i32Const(8).i32Shl().i32Or();
  };
  switch (kind) {
    case "iq2_xxs":
      byte(2 + 8 * j + l);
      return;
    case "iq2_xs":
      f.localGet(pw)
        .i32Load16U(2 + 8 * j + 2 * l)
        .i32Const(511)
        .i32And();
      return;
    case "iq2_s":
      byte(2 + 4 * j + l);
      high(66 + j, 2 * l, 3);
      return;
    case "iq3_xxs":
      byte(2 + 8 * j + 2 * l + part);
      return;
    case "iq3_s":
      byte(2 + 8 * j + 2 * l + part);
      high(66 + j, 2 * l + part, 1);
      return;
    case "iq1_s":
      byte(2 + 4 * j + l);
      f.localGet(pw)
        .i32Load16U(34 + 2 * j)
        .i32Const(3 * l)
        .i32ShrU()
        .i32Const(7)
        .i32And()
        .i32Const(8)
        .i32Shl()
        .i32Or();
      return;
    case "iq1_m":
      byte(4 * j + l);
      high(32 + 2 * j + (l >> 1), 4 * (l & 1), 7);
      return;
  }
}

/** Pushes the 8 sign bits of group l of sub-block j (IQ2_XXS, IQ3_XXS, IQ2_XS: 7 stored, the eighth their parity). */
function signBits(f: StoredCode, kind: LatticeDType, L: LatticeLocals, j: number, l: number): void {
  switch (kind) {
    case "iq2_s":
    case "iq3_s":
      f.localGet(L.pw).i32Load8U((kind === "iq2_s" ? 34 : 74) + 4 * j + l);
      return;
    case "iq2_xs":
      f.localGet(L.pw)
        .i32Load16U(2 + 8 * j + 2 * l)
        .i32Const(9)
        .i32ShrU();
      break;
    default: // iq2_xxs, iq3_xxs: seven bits each in the sub-block's u32 (latticeSubBlock)
      f.localGet(L.aux)
        .i32Const(7 * l)
        .i32ShrU()
        .i32Const(127)
        .i32And();
  }
  f.localTee(L.b).localGet(L.b).i32Popcnt().i32Const(1).i32And().i32Const(7).i32Shl().i32Or();
}

/** Pushes the table address of group l (IQ3: part 0 or 1) of sub-block j. */
function entryAddress(f: StoredCode, kind: LatticeDType, L: LatticeLocals, j: number, l: number, part: number): void {
  f.localGet(L.grid);
  entryIndex(f, kind, L.pw, j, l, part);
  f.i32Const(kind.startsWith("iq3") ? 2 : 3)
    .i32Shl()
    .i32Add();
}

/**
 * Pushes the 16 values of half g (0-1) of sub-block j (0-7) of the block at local pw as int8 lanes:
 * the table's levels with their signs (IQ1: 8 level + 1 or - 1 by the group's shift sign).
 */
export function latticeLevels(f: StoredCode, kind: LatticeDType, L: LatticeLocals, j: number, g: number): void {
  const [l0, l1] = [2 * g, 2 * g + 1];
  if (kind.startsWith("iq3")) {
    entryAddress(f, kind, L, j, l0, 0);
    f.v128Load32Zero().localSet(L.v);
    for (const [lane, l, part] of [
      [1, l0, 1],
      [2, l1, 0],
      [3, l1, 1],
    ] as const) {
      entryAddress(f, kind, L, j, l, part);
      f.localGet(L.v).load32Lane(0, lane).localSet(L.v);
    }
  } else {
    entryAddress(f, kind, L, j, l0, 0);
    f.load64Zero().localSet(L.v);
    entryAddress(f, kind, L, j, l1, 0);
    f.localGet(L.v).load64Lane(0, 1).localSet(L.v);
  }
  if (kind === "iq1_s" || kind === "iq1_m") {
    // the shift's sign bit of each group: IQ1_S bit 15 of the sub-block's u16, IQ1_M bit 3 of its nibble
    const shiftBit = (l: number): void => {
      if (kind === "iq1_s")
        f.localGet(L.pw)
          .i32Load16U(34 + 2 * j)
          .i32Const(15)
          .i32ShrU();
      else
        f.localGet(L.pw)
          .i32Load8U(32 + 2 * j + (l >> 1))
          .i32Const(4 * (l & 1) + 3)
          .i32ShrU()
          .i32Const(1)
          .i32And();
    };
    // 1 - 2 bit per group as a byte (1 or 0xff), spread over its 8 lanes; 8 level + it
    f.localGet(L.v).bytesShl(3);
    f.i32Const(1);
    shiftBit(l0);
    f.i32Const(1).i32Shl().i32Sub().i32Const(255).i32And();
    f.i32Const(1);
    shiftBit(l1);
    f.i32Const(1).i32Shl().i32Sub().i32Const(255).i32And().i32Const(8).i32Shl().i32Or();
    f.i16x8Splat().v128Const0().shuffle(PAIR).i8x16Add();
    return;
  }
  // m = -1 where the value's sign bit is set; (level ^ m) - m negates those
  signBits(f, kind, L, j, l0);
  signBits(f, kind, L, j, l1);
  f.i32Const(8).i32Shl().i32Or().i16x8Splat().v128Const0().shuffle(PAIR);
  f.bytesConst(LANE_BITS).v128And().bytesConst(LANE_BITS).i8x16Eq().localSet(L.m);
  f.localGet(L.v).localGet(L.m).v128Xor().localGet(L.m).i8x16Sub();
}
