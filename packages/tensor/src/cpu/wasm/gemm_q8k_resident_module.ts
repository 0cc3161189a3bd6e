import { FnBuilder } from "./builder.js";
import { emitModule, i32, v128, type FuncDef } from "./encoder.js";
import {
  clampedRow,
  panelDriver,
  panelPacker,
  storeHalves,
  storeLevels,
  panelGemm,
  transposeStore,
  wordsLoop,
} from "./gemm_q8_resident_module.js";
import { IQ4_VALUES } from "../../quant/iq4.js";
import { exactRelaxedDot, Int8Code, Q8K_ROW } from "./gemv_q8_resident_module.js";

/**
 * Prefill over Q4_K, Q5_K, Q6_K, Q3_K and IQ4_XS weights as llama.cpp computes it (activationRounding "ggml"), the
 * super-block sibling of gemm_q8_resident_module.ts: the activation rows quantized to Q8_K
 * (quantize_q8_k, gemv_q8_resident_module.ts) and interleaved into tiles of four rows, the weight
 * repacked eight columns at a time into panels of [4 columns x 4 k] levels (Q4_K with relaxed
 * SIMD) or [4 columns x 2 k] int16, per output and super-block as ggml_vec_dot_q4_K_q8_K /
 * ggml_vec_dot_q5_K_q8_K / ggml_vec_dot_q6_K_q8_K / ggml_vec_dot_q3_K_q8_K / ggml_vec_dot_iq4_xs_q8_K:
 *   isum = sum over the groups (Q4_K, Q5_K and IQ4_XS 8 of 32, Q6_K and Q3_K 16 of 16) of scale_g x
 *          (levels . q8), int32 (Q6_K's levels minus 32, Q3_K's -4..3, IQ4_XS's from its table);
 *   imin (Q4_K, Q5_K) = sum over the groups of min_g x (the group's activation sum), int32;
 *   acc += float(isum) x (d_w x d_x), then (with mins) acc -= float(imin) x (dmin_w x d_x).
 * Integer sums are exact, so the results do not depend on the panel format, the engine or the
 * thread split. Eight columns a panel, as there; the super-block's int32 sums wait in memory.
 *
 * Functions (addresses and strides in bytes), per type:
 *  - `interleave_<type>(q, ldq, rows, nb, out)`: Q8_K rows (Q8K_ROW) as the type's tiles (tilesBytesK);
 *  - `gemm_q8k_<type>(w, ldw, nb, tiles, y, ldy, rows, n, panel)`: y[i, j] = W[j, :] . x_i for j < n
 *    (W's rows ldw apart, nb super-blocks each) and i < rows; panel is scratch of panelBytesK(nb).
 */
const FORMATS = {
  i8: { vectors: 64, at: Q8K_ROW.int8 }, // a super-block's words: 4 k of int8
  i16: { vectors: 128, at: Q8K_ROW.int16 }, // 2 k of int16
} as const;
type Format = keyof typeof FORMATS;

/** A tile block: the rows' words interleaved, their d, then words of their 8 group sums (int16 pairs). */
function tileLayout(format: Format): { d: number; sums: number; bytes: number } {
  const d = 16 * FORMATS[format].vectors;
  return { d, sums: d + 16, bytes: d + 16 + 64 };
}

/** Groups of four columns a panel holds: two, side by side in every part, so each splat meets eight columns. */
const CG = 2;
const PANEL_COLS = 4 * CG;

/**
 * The super-block types: bytes, groups a super-block (each with its scale; Q4_K and Q5_K 8 of 32 with
 * a 6-bit scale and min, Q6_K 16 of 16 with an int8 scale and levels 0-63 minus 32, Q3_K 16 of 16
 * with a 6-bit scale less 32 and levels -4..3, IQ4_XS 8 of 32 with a 6-bit scale less 32 and the
 * IQ4 table's levels), and whether it has mins.
 */
const KTYPES = {
  q4_k: { bytes: 144, groups: 8, min: true },
  q5_k: { bytes: 176, groups: 8, min: true },
  q6_k: { bytes: 210, groups: 16, min: false },
  q3_k: { bytes: 110, groups: 16, min: false },
  iq4_xs: { bytes: 136, groups: 8, min: false },
} as const;
export type GemmQ8KDType = keyof typeof KTYPES;
export const GEMM_Q8K_DTYPES = Object.keys(KTYPES) as GemmQ8KDType[];

/**
 * A panel block, each part with the column groups side by side (16 bytes apart): the levels, the
 * groups' scales (int32), for Q4_K the mins (int16 pairs of groups), d, and for Q4_K dmin.
 */
function panelLayout(format: Format, dtype: GemmQ8KDType): { scales: number; mins: number; d: number; dmin: number; bytes: number } {
  const { groups, min } = KTYPES[dtype];
  const scales = 16 * CG * FORMATS[format].vectors;
  const mins = scales + 16 * CG * groups;
  const d = mins + (min ? 16 * CG * 4 : 0);
  return { scales, mins, d, dmin: d + 16 * CG, bytes: d + (min ? 32 : 16) * CG };
}

/** The largest panel block (the driver's tile sums follow nb of them). */
const LARGEST_PANEL = Math.max(...GEMM_Q8K_DTYPES.map((d) => panelLayout("i16", d).bytes));

/**
 * The panel format a type takes: Q4_K's levels (0-15) fit relaxed SIMD's int8 dot, whose int16 lanes
 * sum a group's 16 products (16 x 127 x 15 < 2^15); Q5_K's (0-31) and Q6_K's (0-63 from 32) would
 * overflow them.
 */
function formatOf(dtype: GemmQ8KDType, relaxedDot: boolean): Format {
  return dtype === "q4_k" && relaxedDot ? "i8" : "i16";
}

/** Bytes the tiles of `rows` rows of nb super-blocks take. */
export function tilesBytesK(rows: number, nb: number): number {
  return Math.ceil(rows / 4) * nb * tileLayout("i16").bytes;
}

/** Scratch a thread needs: its panel, then a tile's float32 sums and its super-block's int32 ones. */
export function panelBytesK(nb: number): number {
  return nb * LARGEST_PANEL + 2 * 64 * CG;
}

function interleave(format: Format, name: string): FuncDef {
  const b = new FnBuilder(name, new Int8Code());
  const f = b.f;
  const Q = b.param(i32);
  const LDQ = b.param(i32);
  const ROWS = b.param(i32);
  const NB = b.param(i32);
  const OUT = b.param(i32);
  const pr = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const src = [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const t = [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const [blk, left, sumsAt, scalesAt] = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const { vectors, at } = FORMATS[format];
  const layout = tileLayout(format);
  f.block().localGet(ROWS).i32Const(0).i32LeS().brIf(0).localGet(NB).i32Eqz().brIf(0);
  f.localGet(ROWS).localSet(left);
  f.loop(); // tiles
  for (let r = 0; r < 4; r++) {
    clampedRow(f, Q, LDQ, left, r);
    f.localSet(pr[r]!);
  }
  // from a row's current super-block values to its sums and d
  f.localGet(NB).i32Const(Q8K_ROW.sums).i32Mul().localSet(sumsAt);
  f.localGet(NB).i32Const(Q8K_ROW.scales).i32Mul().localSet(scalesAt);
  f.localGet(NB).localSet(blk);
  f.loop(); // super-blocks
  for (let j = 0; j < vectors / 4; j++) {
    for (let r = 0; r < 4; r++)
      f.localGet(pr[r]!)
        .v128Load(at + 16 * j)
        .localSet(src[r]!);
    transposeStore(
      f,
      src,
      t,
      OUT,
      [0, 1, 2, 3].map((l) => 16 * (4 * j + l)),
    );
  }
  // each row's d
  f.v128Const0().localSet(t[0]!);
  for (let r = 0; r < 4; r++) f.localGet(pr[r]!).localGet(scalesAt).i32Add().localGet(t[0]!).load32Lane(0, r).localSet(t[0]!);
  f.localGet(OUT).localGet(t[0]!).v128Store(layout.d);
  // each row's 8 group sums (pairs of its 16 bsums) as int16, two groups a word
  for (let r = 0; r < 4; r++) {
    f.localGet(pr[r]!).localGet(sumsAt).i32Add().v128Load().pairSumsI32();
    f.localGet(pr[r]!).localGet(sumsAt).i32Add().v128Load(16).pairSumsI32();
    f.i16x8NarrowI32x4S().localSet(src[r]!);
  }
  transposeStore(
    f,
    src,
    t,
    OUT,
    [0, 1, 2, 3].map((l) => layout.sums + 16 * l),
  );
  for (let r = 0; r < 4; r++) f.localGet(pr[r]!).i32Const(Q8K_ROW.values).i32Add().localSet(pr[r]!);
  // the sums move 32 bytes a super-block and d 4, the values 768
  f.localGet(sumsAt)
    .i32Const(32 - Q8K_ROW.values)
    .i32Add()
    .localSet(sumsAt);
  f.localGet(scalesAt)
    .i32Const(4 - Q8K_ROW.values)
    .i32Add()
    .localSet(scalesAt);
  f.localGet(OUT).i32Const(layout.bytes).i32Add().localSet(OUT);
  f.localGet(blk).i32Const(1).i32Sub().localTee(blk).brIf(0);
  f.end();
  f.localGet(Q).localGet(LDQ).i32Const(4).i32Mul().i32Add().localSet(Q);
  f.localGet(left).i32Const(4).i32Sub().localTee(left).i32Const(0).i32GtS().brIf(0);
  f.end().end();
  return b.def();
}

/**
 * `pack_q4_k(w, ldw, nb, cols, panel)`: eight of W's Q4_K rows (cols of them, 1-8; a missing one
 * repeats the last) as panel blocks (panelLayout): group g's levels (its 32 nibbles: the low ones
 * of bytes 32 (g / 2) .. + 31 for even g, the high ones for odd) as 8 (or 16) vectors a column
 * group, then each group's 6-bit scale (get_scale_min_k4) as int32 lanes, the mins as int16 pairs,
 * d and dmin as float32. `pack_q5_k`: the same over Q5_K rows, whose nibbles start at 48 after 32
 * bytes of fifth bits (bit g of byte l: 16 for value l % 32 of group g).
 */
function pack(format: Format, dtype: "q4_k" | "q5_k"): FuncDef {
  const layout = panelLayout(format, dtype);
  const perGroup = FORMATS[format].vectors / 8;
  const fifth = dtype === "q5_k";
  const { bytes } = KTYPES[dtype];
  return panelPacker(`pack_${dtype}`, PANEL_COLS, bytes, layout.bytes, ({ f, panel, pc, lo, hi, t, e, h }) => {
    for (let cg = 0; cg < CG; cg++) {
      const cols = pc.slice(4 * cg, 4 * cg + 4);
      const at = (vector: number): number => 16 * CG * vector + 16 * cg;
      for (let g = 0; g < 8; g++) {
        const base = perGroup * g; // the group's first vector
        for (let c = 0; c < 4; c++)
          for (const [half, out] of [
            [0, lo],
            [1, hi],
          ] as const) {
            if (fifth)
              f.localGet(cols[c]!)
                .loadAny(16 + 16 * half)
                .localSet(h);
            f.localGet(cols[c]!).loadAny((fifth ? 48 : 16) + 32 * (g >> 1) + 16 * half);
            if (g & 1) f.bytesShrU(4);
            else f.constBytes(0x0f).v128And();
            if (fifth) f.fifthBit(h, g).v128Or();
            f.localSet(out[c]!);
          }
        storeLevels(f, format, { lo, hi, t, e }, panel, (v) => at(base + v));
      }
      // the groups' scales and mins (get_scale_min_k4 over the 12 bytes at 4)
      const byte = (c: number, o: number): void => {
        f.localGet(cols[c]!).i32Load8U(4 + o);
      };
      /** bits 4-5 of a scale or min: the top two bits of byte o, shifted into place, or-ed in. */
      const topBits = (c: number, o: number): void => {
        byte(c, o);
        f.i32Const(6).i32ShrU().i32Const(4).i32Shl().i32Or();
      };
      for (let c = 0; c < 4; c++)
        for (let g = 0; g < 8; g++) {
          f.localGet(panel);
          byte(c, g < 4 ? g : g + 4);
          f.i32Const(g < 4 ? 63 : 15).i32And();
          if (g >= 4) topBits(c, g - 4);
          f.i32Store(layout.scales + 16 * CG * g + 16 * cg + 4 * c);
          f.localGet(panel);
          byte(c, g + 4);
          if (g < 4) f.i32Const(63).i32And();
          else {
            f.i32Const(4).i32ShrU();
            topBits(c, g);
          }
          f.i32Store16(layout.mins + 16 * CG * (g >> 1) + 16 * cg + 4 * c + 2 * (g & 1));
        }
      // d and dmin, float16 -> float32
      storeHalves(f, cols, 0, { v: t[0]!, h }, panel, layout.d + 16 * cg);
      storeHalves(f, cols, 2, { v: t[0]!, h }, panel, layout.dmin + 16 * cg);
    }
  });
}

/**
 * `gemm_panel_q4_k(panel, tiles, y, rows, nb, ldy, cols, acc)`: the panel's columns times every
 * tile, in panelGemm's frame; acc is scratch for a tile's float32 sums and its super-block's int32 ones (kept in memory:
 * the registers hold the eight group sums, the panel vectors and the splat).
 */
function gemmPanel(format: Format, dtype: GemmQ8KDType): FuncDef {
  const { vectors } = FORMATS[format];
  const tile = tileLayout(format);
  const panel = panelLayout(format, dtype);
  const { groups, min } = KTYPES[dtype];
  const wordsPerGroup = vectors / groups;
  const accAt = (r: number, cg: number): number => 16 * (CG * r + cg); // float32 sums at ACC
  const intAt = (r: number, cg: number): number => 16 * (4 * CG + CG * r + cg); // the super-block's int32 sums
  return panelGemm(`gemm_panel_${dtype}`, PANEL_COLS, CG, accAt, ({ f, b, pp, pa, acc: ACC }) => {
    const group = Array.from({ length: 4 * CG }, () => b.local(v128)); // a group's sums, row r, column group cg at CG r + cg
    const wv = Array.from({ length: CG }, () => b.local(v128));
    const [x, sc] = [b.local(v128), b.local(v128)];
    const [g, end] = [b.local(i32), b.local(i32)];
    const sumOf = (r: number, cg: number): number => group[CG * r + cg]!;
    for (let r = 0; r < 4; r++) for (let cg = 0; cg < CG; cg++) f.localGet(ACC).v128Const0().v128Store(intAt(r, cg));
    f.i32Const(0).localSet(g);
    f.loop(); // groups
    for (const s of group) f.v128Const0().localSet(s);
    wordsLoop(f, { pp, pa, end, x, wv, sumOf }, format, CG, wordsPerGroup);
    // int32 sums += the group's sums x its scales (pp has passed the group's words: the scales are at
    // the block's start + scales + 16 CG g = pp - 16 CG wordsPerGroup (g + 1) + scales + 16 CG g)
    for (let cg = 0; cg < CG; cg++) {
      f.localGet(pp)
        .localGet(g)
        .i32Const(16 * CG - 16 * CG * wordsPerGroup)
        .i32Mul()
        .i32Add()
        .v128Load(panel.scales - 16 * CG * wordsPerGroup + 16 * cg)
        .localSet(sc);
      for (let r = 0; r < 4; r++) {
        f.localGet(ACC);
        f.localGet(sumOf(r, cg));
        if (format === "i8") f.pairSumsI32();
        f.localGet(sc).i32x4Mul().localGet(ACC).v128Load(intAt(r, cg)).i32x4Add().v128Store(intAt(r, cg));
      }
    }
    f.localGet(g).i32Const(1).i32Add().localTee(g).i32Const(groups).i32Ne().brIf(0);
    f.end();
    // pp and pa are at the panel's scales and the tile's d: the mins' int16 dot products, then float32
    const fromScales = (field: number): number => field - panel.scales;
    for (let r = 0; r < 4; r++) {
      f.localGet(pa)
        .v128Load32Splat(4 * r)
        .localSet(x);
      for (let cg = 0; cg < CG; cg++) {
        if (min) {
          // imin: the mins (pairs of groups per column) . the group sums (pairs, splat)
          for (let q = 0; q < 4; q++) {
            f.localGet(pa).v128Load32Splat(tile.sums - tile.d + 16 * q + 4 * r);
            f.localGet(pp).v128Load(fromScales(panel.mins) + 16 * CG * q + 16 * cg);
            f.i32x4DotI16x8S();
            if (q > 0) f.i32x4Add();
          }
          f.localSet(sc);
        }
        // acc += float(isum) x (d_w x d_x); with mins, acc -= float(imin) x (dmin_w x d_x)
        f.localGet(ACC).localGet(ACC).v128Load(accAt(r, cg));
        f.localGet(ACC).v128Load(intAt(r, cg)).f32x4ConvertI32x4S();
        f.localGet(pp)
          .v128Load(fromScales(panel.d) + 16 * cg)
          .localGet(x)
          .f32x4Mul()
          .f32x4Mul()
          .f32x4Add();
        if (min) {
          f.localGet(sc).f32x4ConvertI32x4S();
          f.localGet(pp)
            .v128Load(fromScales(panel.dmin) + 16 * cg)
            .localGet(x)
            .f32x4Mul()
            .f32x4Mul()
            .f32x4Sub();
        }
        f.v128Store(accAt(r, cg));
      }
    }
    f.localGet(pp)
      .i32Const(panel.bytes - panel.scales)
      .i32Add()
      .localSet(pp);
    f.localGet(pa)
      .i32Const(tile.bytes - tile.d)
      .i32Add()
      .localSet(pa);
  });
}

/**
 * `pack_q6_k(w, ldw, nb, cols, panel)`: eight of W's Q6_K rows (cols of them, 1-8; a missing one
 * repeats the last) as "i16" panel blocks: group s of 16's levels (q6kGroup's six bits, minus 32)
 * paired with group s + 1's as one block of 32 (storeLevels), then each group's int8 scale as int32
 * lanes and d as float32.
 */
function packQ6K(): FuncDef {
  const layout = panelLayout("i16", "q6_k");
  return panelPacker("pack_q6_k", PANEL_COLS, 210, layout.bytes, ({ f, panel, pc, lo, hi, t, e, h, b }) => {
    const [ql, ql2, qh] = [b.local(v128), b.local(v128), b.local(v128)];
    for (let cg = 0; cg < CG; cg++) {
      const cols = pc.slice(4 * cg, 4 * cg + 4);
      const at = (vector: number): number => 16 * CG * vector + 16 * cg;
      // groups 8n + 2k + lhalf (values 128 n + 32 k + 16 lhalf ..): a pair (lhalf 0, 1) a block of 32
      for (let n = 0; n < 2; n++)
        for (let k = 0; k < 4; k++) {
          for (let c = 0; c < 4; c++)
            for (const [lhalf, out] of [
              [0, lo],
              [1, hi],
            ] as const) {
              f.localGet(cols[c]!)
                .loadAny(64 * n + 16 * lhalf)
                .localSet(ql);
              f.localGet(cols[c]!)
                .loadAny(64 * n + 32 + 16 * lhalf)
                .localSet(ql2);
              f.localGet(cols[c]!)
                .loadAny(128 + 32 * n + 16 * lhalf)
                .localSet(qh);
              f.q6kGroup(k, ql, ql2, qh).constBytes(32).i8x16Sub().localSet(out[c]!);
            }
          const first = 16 * (4 * n + k); // the pair's first vector: 8 a group of 16
          storeLevels(f, "i16", { lo, hi, t, e }, panel, (v) => at(first + v));
        }
      // the groups' int8 scales as int32 lanes, and d
      for (let c = 0; c < 4; c++)
        for (let s = 0; s < 16; s++) {
          f.localGet(panel)
            .localGet(cols[c]!)
            .i32Load8S(192 + s)
            .i32Store(layout.scales + 16 * CG * s + 16 * cg + 4 * c);
        }
      storeHalves(f, cols, 208, { v: t[0]!, h }, panel, layout.d + 16 * cg);
    }
  });
}

/**
 * `pack_q3_k(w, ldw, nb, cols, panel)`: eight of W's Q3_K rows (cols of them, 1-8; a missing one
 * repeats the last) as "i16" panel blocks: group g of 16's levels (-4..3: its two low bits from the
 * 16 quant bytes at 32 + 32 (g / 8) + 16 (g & 1), bits g & 6, and 4 less unless its third bit, bit
 * g / 2 of the hmask bytes at 16 (g & 1), is set) paired with group g + 1's as one block of 32
 * (storeLevels), then each group's 6-bit scale less 32 as int32 lanes and d as float32.
 */
function packQ3K(): FuncDef {
  const layout = panelLayout("i16", "q3_k");
  return panelPacker("pack_q3_k", PANEL_COLS, 110, layout.bytes, ({ f, panel, pc, lo, hi, t, e, h, b }) => {
    const [qs, hmask] = [b.local(v128), b.local(v128)];
    for (let cg = 0; cg < CG; cg++) {
      const cols = pc.slice(4 * cg, 4 * cg + 4);
      const at = (vector: number): number => 16 * CG * vector + 16 * cg;
      for (let pair = 0; pair < 8; pair++) {
        for (let c = 0; c < 4; c++)
          for (const [odd, out] of [
            [0, lo],
            [1, hi],
          ] as const) {
            const g = 2 * pair + odd;
            f.localGet(cols[c]!)
              .loadAny(32 + 32 * (g >> 3) + 16 * (g & 1))
              .localSet(qs);
            f.localGet(cols[c]!)
              .loadAny(16 * (g & 1))
              .localSet(hmask);
            f.lowBitGroup(qs, g, hmask).localSet(out[c]!);
          }
        storeLevels(f, "i16", { lo, hi, t, e }, panel, (v) => at(16 * pair + v)); // 8 vectors a group of 16
      }
      // the groups' scales as int32 lanes, and d
      for (let c = 0; c < 4; c++)
        for (let g = 0; g < 16; g++) {
          f.localGet(panel);
          f.q3kScale(cols[c]!, g);
          f.i32Store(layout.scales + 16 * CG * g + 16 * cg + 4 * c);
        }
      storeHalves(f, cols, 108, { v: t[0]!, h }, panel, layout.d + 16 * cg);
    }
  });
}

/**
 * `pack_iq4_xs(w, ldw, nb, cols, panel)`: eight of W's IQ4_XS rows (cols of them, 1-8; a missing one
 * repeats the last) as "i16" panel blocks: sub-block j's 32 levels (its 16 nibble bytes at 8 + 16 j,
 * low nibbles values 0-15 and high ones 16-31, each looked up in the IQ4 table: -127..113) as one
 * block of 32 (storeLevels), then each sub-block's 6-bit scale less 32 as int32 lanes and d as
 * float32.
 */
function packIQ4XS(): FuncDef {
  const layout = panelLayout("i16", "iq4_xs");
  const levels = IQ4_VALUES.map((v) => v & 0xff);
  return panelPacker("pack_iq4_xs", PANEL_COLS, 136, layout.bytes, ({ f, panel, pc, lo, hi, t, e, h, b }) => {
    const [nib, hs] = [b.local(v128), b.local(i32)];
    for (let cg = 0; cg < CG; cg++) {
      const cols = pc.slice(4 * cg, 4 * cg + 4);
      const at = (vector: number): number => 16 * CG * vector + 16 * cg;
      for (let j = 0; j < 8; j++) {
        for (let c = 0; c < 4; c++) {
          f.localGet(cols[c]!)
            .loadAny(8 + 16 * j)
            .localSet(nib);
          f.bytesConst(levels).localGet(nib).constBytes(0x0f).v128And().swizzle().localSet(lo[c]!);
          f.bytesConst(levels).localGet(nib).bytesShrU(4).swizzle().localSet(hi[c]!);
        }
        storeLevels(f, "i16", { lo, hi, t, e }, panel, (v) => at(16 * j + v)); // 16 vectors a group of 32
      }
      // the sub-blocks' scales as int32 lanes, and d
      for (let c = 0; c < 4; c++) {
        f.localGet(cols[c]!).i32Load16U(2).localSet(hs);
        for (let j = 0; j < 8; j++) {
          f.localGet(panel);
          f.iq4xsScale(cols[c]!, hs, j);
          f.i32Store(layout.scales + 16 * CG * j + 16 * cg + 4 * c);
        }
      }
      storeHalves(f, cols, 0, { v: t[0]!, h }, panel, layout.d + 16 * cg);
    }
  });
}

/** Each type's panel packer. */
const PACKERS: Record<GemmQ8KDType, (format: Format) => FuncDef> = {
  q4_k: (format) => pack(format, "q4_k"),
  q5_k: (format) => pack(format, "q5_k"),
  q6_k: () => packQ6K(),
  q3_k: () => packQ3K(),
  iq4_xs: () => packIQ4XS(),
};

/**
 * The module's functions, per type: its packer, panel GEMM, driver (which calls the other two by
 * index: the list's order is the module's) and tile interleaver in the type's format.
 */
export function q8kGemmFunctions(relaxed: boolean): FuncDef[] {
  const relaxedDot = relaxed && exactRelaxedDot();
  const functions: FuncDef[] = [];
  for (const dtype of GEMM_Q8K_DTYPES) {
    const format = formatOf(dtype, relaxedDot);
    const packAt = functions.push(PACKERS[dtype](format)) - 1;
    const gemmAt = functions.push(gemmPanel(format, dtype)) - 1;
    functions.push(panelDriver(`gemm_q8k_${dtype}`, packAt, gemmAt, PANEL_COLS, LARGEST_PANEL));
    functions.push(interleave(format, `interleave_${dtype}`));
  }
  return functions;
}

export function q8kGemmModule(relaxed: boolean): Uint8Array {
  return emitModule(q8kGemmFunctions(relaxed));
}
