import { FnBuilder } from "./builder.js";
import { emitModule, f32, i32, v128, type FuncDef } from "./encoder.js";
import { halfLanesFast } from "./gemv_stored_module.js";
import { exactRelaxedDot, Int8Code, q8_1S, quantizeQ8Block } from "./gemv_q8_resident_module.js";
import { IQ4_VALUES } from "../../quant/iq4.js";

/**
 * Prefill over the 32-value block types (Q8_0, Q4_0, Q5_0, Q4_1, Q5_1, IQ4_NL: TYPES) as llama.cpp
 * computes it (activationRounding "ggml"): the activation rows quantized to Q8_0 once (the values
 * quantize_q8_0 gives, in tiles of four rows), then int8 dot products, as the decoding GEMVs do,
 * but tiled as a GEMM: eight weight rows
 * (output columns) at a time are repacked into a panel whose 16-byte vectors hold the same k of
 * four columns side by side, so one activation word, splat, meets eight columns in two dot
 * products, and the four rows of a tile share each panel vector.
 *
 * Two panel formats, the same integers either way (so the same results):
 *  - "i8" (relaxed SIMD; Q4_0, Q5_0, Q4_1): a block's levels (0-31) as bytes, 8 vectors of [4
 *    columns x 4 k]; i16x8.relaxed_dot_i8x16_i7x16_s (activation int8, level 0-127) summed as
 *    int16 over the block from start values that take the levels' offset off (quantizeTiles),
 *    its pairs then as int32;
 *  - "i16" (plain SIMD, and Q8_0 / IQ4_NL, whose signed levels do not fit the relaxed dot's 7-bit
 *    operand, and Q5_1): the levels minus their offset as int16, 16 vectors of [4 columns x 2 k],
 *    i32x4.dot_i16x8_s over the activations as int16.
 * Each panel block ends with its columns' d (and min) as float32. Per output, per block:
 * acc += float(isum) x (d_w x d_x), then with a min acc += m_w x s_x (Q8_1's s), blocks in order
 * (float32, no fused multiply-add), so results do not depend on the format, the engine or how
 * threads split the columns.
 *
 * Functions (addresses and strides in bytes):
 *  - `quantize_tiles_<type>(x, ldx, rows, nb, out)`: the activations, as tiles (tilesBytes);
 *  - `gemm_q8_<type>(w, ldw, nb, tiles, y, ldy, rows, n, panel)`: y[i, j] = W[j, :] . x_i for
 *    j < n (W's rows ldw apart, nb blocks each) and i < rows; panel is scratch of panelBytes(nb).
 */

/** The panel formats: 16-byte vectors a block of 32 takes for four columns. */
const FORMATS = {
  i8: { vectors: 8 }, // [4 columns x 4 k] int8
  i16: { vectors: 16 }, // [4 columns x 2 k] int16
} as const;
type Format = keyof typeof FORMATS;

/**
 * The 32-value block types this GEMM takes, each: its bytes, where its levels start (Q8_0's int8,
 * the others' nibbles), its fifth bits (Q5_0 / Q5_1: a u32 before the nibbles), whether it has a
 * min (Q4_1 / Q5_1: float16 at byte 2, times Q8_1's s of the activations, as
 * ggml_vec_dot_q4_1_q8_1), its levels' offset (the stored level minus it is the signed level;
 * IQ4_NL's nibbles index its table of signed levels), and whether its levels fit the "i8" panels:
 * 0-31 after their offset, so a lane's int16 sum of 16 products stays within 16 x 127 x 16.
 */
const TYPES = {
  q8_0: { bytes: 34, levels: 2, fifth: null, min: false, offset: 0, i8: false },
  q4_0: { bytes: 18, levels: 2, fifth: null, min: false, offset: 8, i8: true },
  q5_0: { bytes: 22, levels: 6, fifth: 2, min: false, offset: 16, i8: true },
  q4_1: { bytes: 20, levels: 4, fifth: null, min: true, offset: 0, i8: true },
  q5_1: { bytes: 24, levels: 8, fifth: 4, min: true, offset: 0, i8: false },
  iq4_nl: { bytes: 18, levels: 2, fifth: null, min: false, offset: 0, i8: false },
} as const;
export type GemmQ8DType = keyof typeof TYPES;
export const GEMM_Q8_DTYPES = Object.keys(TYPES) as GemmQ8DType[];

/** Groups of four columns a panel holds: two, so each activation word splat meets eight columns. */
const GROUPS = 2;
const PANEL_COLS = 4 * GROUPS;

/** Bytes of a panel block: its columns' levels, then their d (and min). */
function panelBlockBytes(format: Format, min: boolean): number {
  return GROUPS * 16 * (FORMATS[format].vectors + (min ? 2 : 1));
}

/** Scratch a thread needs for nb blocks: its panel (the largest), then a tile's sums. */
export function panelBytes(nb: number): number {
  return nb * panelBlockBytes("i16", true) + 4 * 16 * GROUPS;
}

/** Which panel format a weight type's GEMM uses: the relaxed int8 dot where its levels fit it and the engine's is exact. */
function formatOf(dtype: GemmQ8DType, relaxedDot: boolean): Format {
  return TYPES[dtype].i8 && relaxedDot ? "i8" : "i16";
}

/** Pushes base + min(i, count - 1) x stride (locals base, stride, count): row i, or the last where there are fewer. */
export function clampedRow(f: Int8Code, base: number, stride: number, count: number, i: number): void {
  f.localGet(base).localGet(stride).i32Const(i).i32Mul().i32Add();
  f.localGet(base).localGet(stride).localGet(count).i32Const(1).i32Sub().i32Mul().i32Add();
  f.localGet(count).i32Const(i).i32GtS().select();
}

/** Four i32 lanes of vectors a, b, c, d (locals) transposed: out[v] = [a.v, b.v, c.v, d.v], each stored at p + offsets[v]. */
export function transposeStore(f: Int8Code, src: readonly number[], t: readonly number[], p: number, offsets: readonly number[]): void {
  const [a, b, c, d] = src as [number, number, number, number];
  f.localGet(a).localGet(b).lanes32([0, 4, 1, 5]).localSet(t[0]!);
  f.localGet(a).localGet(b).lanes32([2, 6, 3, 7]).localSet(t[1]!);
  f.localGet(c).localGet(d).lanes32([0, 4, 1, 5]).localSet(t[2]!);
  f.localGet(c).localGet(d).lanes32([2, 6, 3, 7]).localSet(t[3]!);
  f.localGet(p).localGet(t[0]!).localGet(t[2]!).lanes32([0, 1, 4, 5]).v128Store(offsets[0]);
  f.localGet(p).localGet(t[0]!).localGet(t[2]!).lanes32([2, 3, 6, 7]).v128Store(offsets[1]);
  f.localGet(p).localGet(t[1]!).localGet(t[3]!).lanes32([0, 1, 4, 5]).v128Store(offsets[2]);
  f.localGet(p).localGet(t[1]!).localGet(t[3]!).lanes32([2, 3, 6, 7]).v128Store(offsets[3]);
}

/**
 * Four columns' float16 at byte `field` of their blocks (column c's block at local cols[c]) as
 * float32 lanes, stored at local `panel` + `offset`; v and h are v128 scratch locals.
 */
export function storeHalves(
  f: Int8Code,
  cols: readonly number[],
  field: number,
  scratch: { v: number; h: number },
  panel: number,
  offset: number,
): void {
  f.v128Const0().localSet(scratch.v);
  for (let c = 0; c < 4; c++)
    f.localGet(cols[c]!)
      .localGet(scratch.v)
      .load16Lane(field, 2 * c)
      .localSet(scratch.v);
  f.localGet(panel).localGet(scratch.v);
  halfLanesFast(f, scratch.h);
  f.v128Store(offset);
}

/** Locals of storeLevels: four columns' levels of k 0-15 (lo) and 16-31 (hi) as bytes, and scratch vectors t and e. */
export interface LevelsLocals {
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  readonly t: readonly number[];
  readonly e: readonly number[];
}

/**
 * Four columns' 32 levels (signed bytes, or unsigned under 128) stored as a block's vectors of the
 * panel at `panel` + at(vector): "i8" vector v holds the columns' k 4v .. 4v + 3 (v 0-3 from lo,
 * 4-7 from hi); "i16" vector v their k 2v, 2v + 1 as int16 (k 8j .. 8j + 7 widened from lo / hi).
 */
export function storeLevels(f: Int8Code, format: "i8" | "i16", l: LevelsLocals, panel: number, at: (vector: number) => number): void {
  if (format === "i8") {
    transposeStore(f, l.lo, l.t, panel, [0, 1, 2, 3].map(at));
    transposeStore(f, l.hi, l.t, panel, [4, 5, 6, 7].map(at));
    return;
  }
  for (let j = 0; j < 4; j++) {
    const src = j < 2 ? l.lo : l.hi;
    for (let c = 0; c < 4; c++) {
      f.localGet(src[c]!);
      if (j % 2 === 0) f.i16x8ExtendLowI8x16S();
      else f.i16x8ExtendHighI8x16S();
      f.localSet(l.e[c]!);
    }
    transposeStore(
      f,
      l.e,
      l.t,
      panel,
      [0, 1, 2, 3].map((v) => at(4 * j + v)),
    );
  }
}

/** What a packer's body gets: its code, its builder (for more locals), the panel pointer, each column's block pointer and scratch vectors. */
export interface PackLocals {
  readonly f: Int8Code;
  readonly b: FnBuilder<Int8Code>;
  readonly panel: number;
  /** each of the panel's columns' current block (a missing column repeats the last) */
  readonly pc: readonly number[];
  readonly lo: readonly number[];
  readonly hi: readonly number[];
  readonly t: readonly number[];
  readonly e: readonly number[];
  readonly h: number;
}

/**
 * `name(w, ldw, nb, cols, panel)`: a packer of `panelCols` of W's rows (cols of them; a missing one
 * repeats the last) block by block: `body` writes one panel block from the columns' blocks, then
 * every column moves on `blockBytes` and the panel `panelBlock`.
 */
export function panelPacker(
  name: string,
  panelCols: number,
  blockBytes: number,
  panelBlock: number,
  body: (l: PackLocals) => void,
): FuncDef {
  const b = new FnBuilder(name, new Int8Code());
  const f = b.f;
  const W = b.param(i32);
  const LDW = b.param(i32);
  const NB = b.param(i32);
  const COLS = b.param(i32);
  const PANEL = b.param(i32);
  const pc = Array.from({ length: panelCols }, () => b.local(i32));
  const four = () => [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const [lo, hi, t, e] = [four(), four(), four(), four()];
  const h = b.local(v128);
  const blk = b.local(i32);
  f.block().localGet(NB).i32Eqz().brIf(0);
  for (let c = 0; c < panelCols; c++) {
    clampedRow(f, W, LDW, COLS, c);
    f.localSet(pc[c]!);
  }
  f.localGet(NB).localSet(blk);
  f.loop(); // blocks
  body({ f, b, panel: PANEL, pc, lo, hi, t, e, h });
  for (let c = 0; c < panelCols; c++) f.localGet(pc[c]!).i32Const(blockBytes).i32Add().localSet(pc[c]!);
  f.localGet(PANEL).i32Const(panelBlock).i32Add().localSet(PANEL);
  f.localGet(blk).i32Const(1).i32Sub().localTee(blk).brIf(0);
  f.end().end();
  return b.def();
}

/**
 * `pack_<type>(w, ldw, nb, cols, panel)`: the panel of W's rows w, w + ldw, ... (cols of them, 1 to
 * PANEL_COLS; a missing column repeats the last, its outputs never stored). Per block: vector v of
 * each group of four columns side by side, then each group's d.
 */
function pack(dtype: GemmQ8DType, format: Format): FuncDef {
  const type = TYPES[dtype];
  const { vectors } = FORMATS[format];
  const stride = 16 * GROUPS; // bytes from one vector of a group to its next
  return panelPacker(`pack_${dtype}`, PANEL_COLS, type.bytes, panelBlockBytes(format, type.min), ({ f, panel, pc, lo, hi, t, e, h }) => {
    for (let g = 0; g < GROUPS; g++) {
      const cols = pc.slice(4 * g, 4 * g + 4);
      // each column's levels of k 0-15 (lo) and 16-31 (hi) as bytes: Q8_0's int8, the others' low and
      // high nibbles (with Q5's fifth bits; IQ4_NL's looked up), minus the offset in the "i16" panels
      for (let c = 0; c < 4; c++) {
        if (dtype === "q8_0") {
          f.localGet(cols[c]!).loadAny(2).localSet(lo[c]!);
          f.localGet(cols[c]!).loadAny(18).localSet(hi[c]!);
          continue;
        }
        f.localGet(cols[c]!).loadAny(type.levels).localSet(h);
        for (const [half, out] of [
          [0, lo],
          [1, hi],
        ] as const) {
          if (dtype === "iq4_nl") f.bytesConst(IQ4_VALUES.map((v) => v & 0xff));
          f.localGet(h);
          if (half === 0) f.constBytes(0x0f).v128And();
          else f.bytesShrU(4);
          if (type.fifth !== null) f.fifthBitsOfWord(cols[c]!, type.fifth, half).v128Or();
          if (dtype === "iq4_nl") f.swizzle();
          if (format === "i16" && type.offset !== 0) f.constBytes(type.offset).i8x16Sub();
          f.localSet(out[c]!);
        }
      }
      const at = (v: number): number => stride * v + 16 * g;
      storeLevels(f, format, { lo, hi, t, e }, panel, at);
      // the four columns' d (and min), float16 -> float32
      storeHalves(f, cols, 0, { v: t[0]!, h }, panel, at(vectors));
      if (type.min) storeHalves(f, cols, 2, { v: t[0]!, h }, panel, at(vectors + 1));
    }
  });
}

/**
 * The parts of a tile block, in bytes from its start: four activation rows' values interleaved by
 * words, their four d, for the types with a min their four Q8_1 s, and for "i8" each row's int16
 * start vector (see quantizeTiles).
 */
function tileLayout(format: Format, min: boolean): { d: number; s: number; starts: number; bytes: number } {
  const d = 16 * FORMATS[format].vectors;
  const s = d + 16;
  const starts = s + (min ? 16 : 0);
  return { d, s, starts, bytes: starts + (format === "i8" ? 64 : 0) };
}

/** Bytes the quantized activations of `rows` rows of nb blocks take as tiles (rows rounded up to tiles of four). */
export function tilesBytes(rows: number, nb: number): number {
  const largest = Math.max(tileLayout("i8", true).bytes, tileLayout("i16", true).bytes);
  return Math.ceil(rows / 4) * nb * largest;
}

/**
 * `quantize_tiles_<type>(x, ldx, rows, nb, out)`: float32 rows (ldx bytes apart, 32 nb values)
 * quantized to Q8_0 blocks as quantize_q8_0 does (quantizeQ8Block: the same values, d and sums)
 * and written as tiles of four rows: per block, vector v holds word v of each row's values (int8
 * for "i8", int16 for "i16"), then the rows' d (float32), then for "i8" each row's start vector
 * for its int16 sums: minus offset x the sum of the values each lane takes (lanes 2c: the words'
 * bytes 0-1, 2c + 1: bytes 2-3), so the sums come out as those of the levels minus the offset
 * (int16 adds wrap, and the final sums fit: |sum| <= 16 x 127 x 8). The GEMM reads a tile through
 * one pointer at fixed offsets. A last tile's missing rows repeat its
 * last row (their outputs are never stored).
 */
function quantizeTiles(format: Format, offset: number, min: boolean, name: string): FuncDef {
  const b = new FnBuilder(name, new Int8Code());
  const f = b.f;
  const X = b.param(i32);
  const LDX = b.param(i32);
  const ROWS = b.param(i32);
  const NB = b.param(i32);
  const OUT = b.param(i32);
  const v = Array.from({ length: 8 }, () => b.local(v128));
  const [t, idv] = [b.local(v128), b.local(v128)];
  const [amax, d, id] = [b.local(f32), b.local(f32), b.local(f32)];
  const sum = b.local(i32);
  const d32 = b.local(f32);
  const pr = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const [px, blk, left] = [b.local(i32), b.local(i32), b.local(i32)];
  const { vectors } = FORMATS[format];
  const layout = tileLayout(format, min);
  f.block().localGet(ROWS).i32Const(0).i32LeS().brIf(0).localGet(NB).i32Eqz().brIf(0);
  f.localGet(ROWS).localSet(left);
  f.loop(); // tiles
  for (let r = 0; r < 4; r++) {
    clampedRow(f, X, LDX, left, r);
    f.localSet(pr[r]!);
  }
  f.localGet(NB).localSet(blk);
  f.loop(); // blocks
  for (let r = 0; r < 4; r++) {
    f.localGet(pr[r]!).localSet(px);
    quantizeQ8Block(f, { v, t, idv, amax, d, id, sum }, px, min ? d32 : undefined);
    // int16 (four vectors of 8), then for "i8" int8 (two of 16); |q| <= 127, so no narrowing saturates
    for (let j = 0; j < 4; j++)
      f.localGet(v[2 * j]!)
        .localGet(v[2 * j + 1]!)
        .i16x8NarrowI32x4S()
        .localSet(v[j]!);
    if (format === "i8")
      for (let j = 0; j < 2; j++)
        f.localGet(v[2 * j]!)
          .localGet(v[2 * j + 1]!)
          .i8x16NarrowI16x8S()
          .localSet(v[j]!);
    // word w of the row into vector w of the tile block, at the row's lane
    for (let w = 0; w < vectors; w++)
      f.localGet(OUT)
        .localGet(v[w >> 2]!)
        .v128Store32Lane(w & 3, 16 * w + 4 * r);
    f.localGet(OUT)
      .localGet(d)
      .f32Store(layout.d + 4 * r);
    if (min) {
      // Q8_1's s (amax is free by now)
      f.localGet(OUT);
      q8_1S(f, sum, d32, amax);
      f.f32Store(layout.s + 4 * r);
    }
    if (format === "i8") {
      // lanes [e, o] x 4 as int16: e = -offset x (q's lane sums 0 + 1), o = -offset x (lanes 2 + 3)
      f.localGet(OUT);
      f.i32Const(-offset).localGet(t).i32x4ExtractLane(0).localGet(t).i32x4ExtractLane(1).i32Add().i32Mul().i32Const(0xffff).i32And();
      f.i32Const(-offset).localGet(t).i32x4ExtractLane(2).localGet(t).i32x4ExtractLane(3).i32Add().i32Mul().i32Const(16).i32Shl();
      f.i32Or()
        .i32x4Splat()
        .v128Store(layout.starts + 16 * r);
    }
    f.localGet(pr[r]!).i32Const(128).i32Add().localSet(pr[r]!);
  }
  f.localGet(OUT).i32Const(layout.bytes).i32Add().localSet(OUT);
  f.localGet(blk).i32Const(1).i32Sub().localTee(blk).brIf(0);
  f.end();
  f.localGet(X).localGet(LDX).i32Const(4).i32Mul().i32Add().localSet(X);
  f.localGet(left).i32Const(4).i32Sub().localTee(left).i32Const(0).i32GtS().brIf(0);
  f.end().end();
  return b.def();
}

/** What a panel GEMM's block body gets: its code, its builder (for more locals), the panel's and the tile's read pointers, the tile's float32 sums and a spare i32 local. */
export interface PanelGemmLocals {
  readonly f: Int8Code;
  readonly b: FnBuilder<Int8Code>;
  readonly pp: number;
  readonly pa: number;
  readonly acc: number;
  readonly j: number;
}

/**
 * `name(panel, tiles, y, rows, nb, ldy, cols, acc)`: a panel GEMM's frame (shared by the
 * super-block GEMM, gemm_q8k_resident_module.ts): for each tile of four activation rows, its float32
 * sums at acc zeroed (row r's `groups` vectors at acc + accAt(r, g)), `body` once per block (it
 * moves pp and pa past the block), then the tile's rows stored to y (storeTileRows); outputs
 * y[i ldy + 4 g + lane] for rows i < rows and the first cols columns.
 */
export function panelGemm(
  name: string,
  panelCols: number,
  groups: number,
  accAt: (r: number, g: number) => number,
  body: (l: PanelGemmLocals) => void,
): FuncDef {
  const b = new FnBuilder(name, new Int8Code());
  const f = b.f;
  const [PANEL, TILES, Y, ROWS, NB, LDY, COLS, ACC] = Array.from({ length: 8 }, () => b.param(i32));
  const [pp, pa, blk, left, j] = Array.from({ length: 5 }, () => b.local(i32));
  f.block().localGet(NB).i32Eqz().brIf(0).localGet(ROWS).i32Const(0).i32LeS().brIf(0);
  f.localGet(TILES).localSet(pa).localGet(ROWS).localSet(left);
  f.loop(); // tiles
  for (let r = 0; r < 4; r++) for (let g = 0; g < groups; g++) f.localGet(ACC).v128Const0().v128Store(accAt(r, g));
  f.localGet(PANEL).localSet(pp).localGet(NB).localSet(blk);
  f.loop(); // blocks
  body({ f, b, pp, pa, acc: ACC, j });
  f.localGet(blk).i32Const(1).i32Sub().localTee(blk).brIf(0);
  f.end();
  storeTileRows(f, { left, cols: COLS, y: Y, ldy: LDY, acc: ACC, j }, panelCols, groups, accAt);
  f.localGet(left).i32Const(4).i32Sub().localTee(left).i32Const(0).i32GtS().brIf(0);
  f.end().end();
  return b.def();
}

/**
 * `gemm_panel_<type>(panel, tiles, y, rows, nb, ldy, cols, acc)`: the panel's columns times every
 * tile of four activation rows (quantize_tiles'), in panelGemm's frame; acc holds the tile's
 * [4, PANEL_COLS] float32 sums. A block's words run in a small loop, so the engine keeps its loads
 * beside their dot products (unrolled, V8 hoisted every load to the block's start and spilled them).
 */
function gemmPanel(format: Format, min: boolean, name: string): FuncDef {
  const { vectors } = FORMATS[format];
  const layout = tileLayout(format, min);
  const accAt = (r: number, g: number): number => 16 * (GROUPS * r + g);
  return panelGemm(name, PANEL_COLS, GROUPS, accAt, ({ f, b, pp, pa, acc: ACC, j }) => {
    const isum = Array.from({ length: 4 * GROUPS }, () => b.local(v128)); // row r, group g at GROUPS r + g
    const wv = Array.from({ length: GROUPS }, () => b.local(v128));
    const [x, scale] = [b.local(v128), b.local(v128)];
    const sumOf = (r: number, g: number): number => isum[GROUPS * r + g]!;
    for (let r = 0; r < 4; r++)
      for (let g = 0; g < GROUPS; g++) {
        if (format === "i8") f.localGet(pa).v128Load(layout.starts + 16 * r);
        else f.v128Const0();
        f.localSet(sumOf(r, g));
      }
    wordsLoop(f, { pp, pa, end: j, x, wv, sumOf }, format, GROUPS, vectors);
    // pa and pp are at the tile's and the panel's d now: tile fields from pa - 16 vectors
    const at = (field: number): number => field - 16 * vectors;
    for (let r = 0; r < 4; r++) {
      // acc += float(isum) x (d_w x d_x); with a min, then acc += m_w x s_x (ggml_vec_dot_q4_1_q8_1's order)
      f.localGet(pa)
        .v128Load32Splat(at(layout.d) + 4 * r)
        .localSet(scale);
      for (let g = 0; g < GROUPS; g++) {
        f.localGet(ACC);
        f.localGet(sumOf(r, g));
        if (format === "i8") f.pairSumsI32();
        f.f32x4ConvertI32x4S();
        f.localGet(pp)
          .v128Load(16 * g)
          .localGet(scale)
          .f32x4Mul()
          .f32x4Mul();
        f.localGet(ACC).v128Load(accAt(r, g)).f32x4Add();
        if (min)
          f.localGet(pp)
            .v128Load(16 * GROUPS + 16 * g)
            .localGet(pa)
            .v128Load32Splat(at(layout.s) + 4 * r)
            .f32x4Mul()
            .f32x4Add();
        f.v128Store(accAt(r, g));
      }
    }
    f.localGet(pp)
      .i32Const(16 * GROUPS * (min ? 2 : 1))
      .i32Add()
      .localSet(pp);
    f.localGet(pa)
      .i32Const(layout.bytes - 16 * vectors)
      .i32Add()
      .localSet(pa);
  });
}

/**
 * `name(w, ldw, nb, tiles, y, ldy, rows, n, panel)`: `panelCols` columns at a time, packed (function
 * packFn) then multiplied (gemmFn, its tile sums in scratch after the panel's nb blocks of
 * `panelBlock` bytes). Shared by the super-block GEMM (gemm_q8k_resident_module.ts).
 */
export function panelDriver(name: string, packFn: number, gemmFn: number, panelCols: number, panelBlock: number): FuncDef {
  const b = new FnBuilder(name, new Int8Code());
  const f = b.f;
  const W = b.param(i32);
  const LDW = b.param(i32);
  const NB = b.param(i32);
  const TILES = b.param(i32);
  const Y = b.param(i32);
  const LDY = b.param(i32);
  const ROWS = b.param(i32);
  const N = b.param(i32);
  const PANEL = b.param(i32);
  const cols = b.local(i32);
  const acc = b.local(i32);
  f.block().localGet(N).i32Const(0).i32LeS().brIf(0);
  f.localGet(PANEL).localGet(NB).i32Const(panelBlock).i32Mul().i32Add().localSet(acc);
  f.loop();
  f.i32Const(panelCols).localGet(N).localGet(N).i32Const(panelCols).i32GtS().select().localSet(cols);
  f.localGet(W).localGet(LDW).localGet(NB).localGet(cols).localGet(PANEL).call(packFn);
  f.localGet(PANEL).localGet(TILES).localGet(Y).localGet(ROWS).localGet(NB).localGet(LDY).localGet(cols).localGet(acc).call(gemmFn);
  f.localGet(W).localGet(LDW).i32Const(panelCols).i32Mul().i32Add().localSet(W);
  f.localGet(Y)
    .i32Const(4 * panelCols)
    .i32Add()
    .localSet(Y);
  f.localGet(N).i32Const(panelCols).i32Sub().localTee(N).i32Const(0).i32GtS().brIf(0);
  f.end().end();
  return b.def();
}

/** Locals of wordsLoop: the panel and tile pointers, the words' end, the splat, the panel vectors, the sums' locals. */
export interface WordsLocals {
  readonly pp: number;
  readonly pa: number;
  readonly end: number;
  readonly x: number;
  readonly wv: readonly number[];
  sumOf(r: number, g: number): number;
}

/**
 * `words` words of a tile (at pa) against the panel (at pp, `groups` vectors a word): each row's
 * word, splat, times each group's vector, added into sumOf(row, group) (int16 lanes for "i8", int32
 * for "i16"); pa and pp move on. A small loop that ends on a pointer compare, so the engine keeps
 * its loads beside their dot products (unrolled, V8 hoisted every load to the block's start and
 * spilled them; a counter it kept on the stack).
 */
export function wordsLoop(f: Int8Code, l: WordsLocals, format: "i8" | "i16", groups: number, words: number): void {
  f.localGet(l.pa)
    .i32Const(16 * words)
    .i32Add()
    .localSet(l.end);
  f.loop();
  for (let g = 0; g < groups; g++)
    f.localGet(l.pp)
      .v128Load(16 * g)
      .localSet(l.wv[g]!);
  for (let r = 0; r < 4; r++) {
    f.localGet(l.pa)
      .v128Load32Splat(4 * r)
      .localSet(l.x);
    for (let g = 0; g < groups; g++) {
      f.localGet(l.sumOf(r, g)).localGet(l.x).localGet(l.wv[g]!);
      if (format === "i8") f.i16x8RelaxedDotI8x16I7x16S().i16x8Add();
      else f.i32x4DotI16x8S().i32x4Add();
      f.localSet(l.sumOf(r, g));
    }
  }
  f.localGet(l.pp)
    .i32Const(16 * groups)
    .i32Add()
    .localSet(l.pp);
  f.localGet(l.pa).i32Const(16).i32Add().localTee(l.pa).localGet(l.end).i32Ne().brIf(0);
  f.end();
}

/** Locals and parameters storeTileRows reads: rows left, columns, y and its stride, the sums, a counter. */
export interface TileRowsLocals {
  readonly left: number;
  readonly cols: number;
  readonly y: number;
  readonly ldy: number;
  readonly acc: number;
  readonly j: number;
}

/**
 * A tile's four rows of outputs from its float32 sums (row r's `groups` vectors of four at acc +
 * accAt(r, g)) to y (moved on a row at a time): whole vectors where all `panelCols` columns are
 * there, else the first cols one at a time; none past the last row.
 */
function storeTileRows(f: Int8Code, l: TileRowsLocals, panelCols: number, groups: number, accAt: (r: number, g: number) => number): void {
  for (let r = 0; r < 4; r++) {
    f.block();
    f.localGet(l.left).i32Const(r).i32LeS().brIf(0);
    f.block();
    f.localGet(l.cols).i32Const(panelCols).i32Ne().brIf(0);
    for (let g = 0; g < groups; g++)
      f.localGet(l.y)
        .localGet(l.acc)
        .v128Load(accAt(r, g))
        .v128Store(16 * g);
    f.br(1);
    f.end();
    f.i32Const(0).localSet(l.j);
    f.loop();
    f.localGet(l.y).localGet(l.j).i32Const(4).i32Mul().i32Add();
    f.localGet(l.acc).localGet(l.j).i32Const(4).i32Mul().i32Add().f32Load(accAt(r, 0));
    f.f32Store();
    f.localGet(l.j).i32Const(1).i32Add().localTee(l.j).localGet(l.cols).i32LtS().brIf(0);
    f.end();
    f.end();
    f.localGet(l.y).localGet(l.ldy).i32Add().localSet(l.y);
  }
}

/**
 * The module's functions: for each type its packer, panel GEMM, driver (which calls the other two
 * by index, so the list's order is the module's) and tile quantizer. With `relaxed`, where the
 * engine's relaxed int8 dot product is exact (exactRelaxedDot), the types whose levels fit take
 * the "i8" panels.
 */
export function q8GemmFunctions(relaxed: boolean): FuncDef[] {
  const relaxedDot = relaxed && exactRelaxedDot();
  const functions: FuncDef[] = [];
  for (const dtype of GEMM_Q8_DTYPES) {
    const { min, offset } = TYPES[dtype];
    const format = formatOf(dtype, relaxedDot);
    const packAt = functions.push(pack(dtype, format)) - 1;
    const gemmAt = functions.push(gemmPanel(format, min, `gemm_panel_${dtype}`)) - 1;
    functions.push(panelDriver(`gemm_q8_${dtype}`, packAt, gemmAt, PANEL_COLS, panelBlockBytes("i16", true)));
    // "i16" panels hold the levels minus their offset; "i8" ones take it off through the start values
    functions.push(quantizeTiles(format, format === "i8" ? offset : 0, min, `quantize_tiles_${dtype}`));
  }
  return functions;
}

export function q8GemmModule(relaxed: boolean): Uint8Array {
  return emitModule(q8GemmFunctions(relaxed));
}
