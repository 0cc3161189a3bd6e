import { expLocals, expShiftInPlaceSum } from "./activation_module.js";
import { bump as builderBump, countdown, FnBuilder, mulAdd } from "./builder.js";
import { f32, i32, v128, type FuncDef, type ValType } from "./encoder.js";
import { halfLanesFast } from "./gemv_stored_module.js";
import { roundHalfLanes } from "./ggml_rounding_module.js";
import { DESC, descReader, HalfCode, HIGH_HALVES, LOW_HALVES, maskedKey, splitIndex } from "./attention_module.js";

/** Query heads one group pass takes (their accumulators stay in registers). */
export const GROUP_QUERIES = 4;

const field = (name: (typeof DESC)[number]): number => DESC.indexOf(name) * 4;

/**
 * Floats of scratch `attention_group` needs for S keys and head size D: four score rows (padded to
 * whole vectors and one more), the four queries and the four output rows interleaved eight floats
 * at a time, and the four maxima and 1 / sums.
 */
export function groupScratchFloats(S: number, D: number): number {
  return GROUP_QUERIES * (scoreRowFloats(S) + 2 * D + 2);
}

function scoreRowFloats(S: number): number {
  return ((S + 3) & ~3) + 4;
}

/**
 * `attention_group(desc, r0, r1, scratch)` (`attention_group_f16`: k and v float16): the row
 * kernel's attention (attention_module.ts, same DESC) for the query heads that share a key/value
 * head, four at a time, so each key and value row is read (and, for halves, widened) once for four
 * queries instead of once each. r runs over the flattened [B, Hkv, T] groups (threads take
 * contiguous ranges); heads past the last whole four of a group go to the row kernel (function
 * `rowFunction` of the same module). Each query's arithmetic is the row kernel's, in its order:
 * the two lane sums over eight values a step, their lanes added (0 + 1) + (2 + 3), the scale, the
 * maximum, exp and 1 / sum per row, and the output row summed over the keys of nonzero weight in
 * key order; so the result is the row kernel's bit for bit (test/cpu-attention-group.test.ts).
 * What it does not take (the caller routes these to the row kernel): a bias, a mask that differs
 * between heads (DESC's mh must be 0), D not a multiple of 8, fewer than four heads a group.
 * Halves are widened by halfLanesFast (every float16 exactly, infinities and NaN too).
 */
function attentionGroup(fma: boolean, half: boolean, rowFunction: number): FuncDef {
  const NQ = GROUP_QUERIES;
  const b = new FnBuilder(half ? "attention_group_f16" : "attention_group", new HalfCode());
  const f = b.f;
  const kvBytes = half ? 2 : 4;
  const desc = b.param(i32);
  const r0 = b.param(i32);
  const r1 = b.param(i32);
  const scratch = b.param(i32);
  /** `n` new locals of `type`. */
  const locals = (type: ValType, n: number): number[] => Array.from({ length: n }, () => b.local(type));
  const [r, t, bk, hk, bi, sub, h0, row] = locals(i32, 8);
  const [kp, vp, mp, pa, pb, s, j, g] = locals(i32, 8);
  const [S, D, T, H, G, Hkv, chunks, rowBytes] = locals(i32, 8);
  const [qi, oi, mx, sp, roundHalf, nz] = locals(i32, 6);
  const [max, x] = locals(f32, 2);
  const w = locals(f32, NQ);
  const acc = locals(v128, NQ);
  const acc2 = locals(v128, NQ);
  const pv = locals(v128, NQ);
  const [k0, k1, hv, tmp, xv, maxv, sum, rm, rt, lo, hi, special] = locals(v128, 12);
  const exps = expLocals(b);

  const { load, plus, kvRows } = descReader(f, desc);
  const bump = (local: number, step: number): void => builderBump(f, local, step);

  /**
   * Eight values of k or v at pb as float32 into k0 and k1. Halves: `exact`, by halfLanesFast
   * (every half, infinities and NaN too); else as the row kernel's fast path, each half's fields
   * shifted into a float32's on 16-bit lanes (value x 2^-112, subnormals too), the two shuffles that
   * widen them, times 2^112, and the halves noted in `special` (see anySpecial): right for every
   * finite half, the caller redoing or avoiding rows that hold an infinity or NaN.
   */
  const eight = (exact: boolean): void => {
    if (!half) {
      f.localGet(pb).v128Load().localSet(k0);
      f.localGet(pb).v128Load(16).localSet(k1);
      return;
    }
    f.localGet(pb).v128Load().localSet(hv);
    if (exact) {
      f.localGet(hv).i32x4ExtendLowI16x8U();
      halfLanesFast(f, tmp);
      f.localSet(k0);
      f.localGet(hv).i32x4ExtendHighI16x8U();
      halfLanesFast(f, tmp);
      f.localSet(k1);
      return;
    }
    noteSpecials();
    f.localGet(hv).i32Const(13).i16x8Shl().localSet(lo);
    f.localGet(hv).i32Const(3).i16x8ShrS().i16x8Const(0x8fff).v128And().localSet(hi);
    f.localGet(lo)
      .localGet(hi)
      .shuffle(LOW_HALVES)
      .f32x4Const(2 ** 112)
      .f32x4Mul()
      .localSet(k0);
    f.localGet(lo)
      .localGet(hi)
      .shuffle(HIGH_HALVES)
      .f32x4Const(2 ** 112)
      .f32x4Mul()
      .localSet(k1);
  };
  /** Folds the eight halves in hv into `special`: their bits shifted up one (the sign dropped), the largest kept. */
  const noteSpecials = (): void => {
    f.localGet(hv).i32Const(1).i16x8Shl().localGet(special).i16x8MaxU().localSet(special);
  };
  /** Pushes whether `special` saw a float16 of exponent all ones (infinity, NaN: from 0xf800 on). */
  const anySpecial = (): void => {
    f.localGet(special).i16x8Const(0xf800).i16x8GeU().v128AnyTrue();
  };

  load("S");
  f.localSet(S);
  load("D");
  f.localSet(D);
  load("T");
  f.localSet(T);
  load("H");
  f.localSet(H);
  load("G");
  f.localSet(G);
  load("roundHalf");
  f.localSet(roundHalf);
  f.localGet(H).localGet(G).i32DivU().localSet(Hkv);
  f.localGet(D).i32Const(3).i32ShrU().localSet(chunks);
  f.localGet(S).i32Const(3).i32Add().i32Const(-4).i32And().i32Const(4).i32Add().i32Const(4).i32Mul().localSet(rowBytes);
  // scratch: NQ score rows, the interleaved queries, the interleaved outputs, the maxima, the 1 / sums
  f.localGet(scratch).localGet(rowBytes).i32Const(NQ).i32Mul().i32Add().localSet(qi);
  f.localGet(qi)
    .localGet(D)
    .i32Const(4 * NQ)
    .i32Mul()
    .i32Add()
    .localSet(oi);
  f.localGet(oi)
    .localGet(D)
    .i32Const(4 * NQ)
    .i32Mul()
    .i32Add()
    .localSet(mx);

  f.localGet(r0).localSet(r);
  f.block().loop();
  f.localGet(r).localGet(r1).i32GeU().brIf(1);
  // which group: r = (b Hkv + hk) T + t
  splitIndex(f, { r, T, N: Hkv, t, bn: bk, n: hk, b: bi });
  kvRows(bi, hk, kp, vp);
  f.i32Const(0).localSet(mp);
  load("mask");
  f.if();
  load("mask");
  plus("mb", bi);
  plus("mt", t);
  f.localSet(mp);
  f.end();

  f.i32Const(0).localSet(sub);
  f.block().loop();
  f.localGet(sub).i32Const(NQ).i32Add().localGet(G).i32GtU().brIf(1);
  f.localGet(hk).localGet(G).i32Mul().localGet(sub).i32Add().localSet(h0);

  // the four queries, interleaved eight floats at a time (rounded to float16 first in ggml's numerics)
  for (let q = 0; q < NQ; q++) {
    load("q");
    plus("qb", bi);
    f.localGet(h0).i32Const(q).i32Add().localGet(desc).i32Load(field("qh")).i32Mul().i32Add();
    plus("qt", t);
    f.localSet(pa);
    f.localGet(qi)
      .i32Const(32 * q)
      .i32Add()
      .localSet(pb);
    f.localGet(chunks).localSet(j);
    countdown(f, j, () => {
      for (const off of [0, 16]) {
        f.localGet(pa).v128Load(off).localSet(xv);
        if (half) {
          f.localGet(roundHalf).if();
          roundHalfLanes(f, xv, rm, rt);
          f.end();
        }
        f.localGet(pb).localGet(xv).v128Store(off);
      }
      bump(pa, 32);
      bump(pb, 32 * NQ);
    });
  }

  // scores: each key read once for the four queries; its maximum per query in maxv
  f.f32x4Const(-Infinity).localSet(maxv);
  f.i32Const(0).localSet(s);
  f.block().loop();
  f.localGet(s).localGet(S).i32GeU().brIf(1);
  maskedKey(f, { mp, s, into: nz }, () => load("ms"));
  f.localGet(nz).if();
  f.f32x4Const(-Infinity).localSet(xv);
  f.else();
  /** The four queries' lane sums over the key at s (acc, acc2), its values widened `exact`ly or not. */
  const keyDots = (exact: boolean): void => {
    for (let q = 0; q < NQ; q++) {
      f.v128Const0().localSet(acc[q]!);
      f.v128Const0().localSet(acc2[q]!);
    }
    f.localGet(qi).localSet(pa);
    f.localGet(kp).localGet(s);
    load("ks");
    f.i32Mul().i32Add().localSet(pb);
    f.localGet(chunks).localSet(j);
    countdown(f, j, () => {
      eight(exact);
      for (let q = 0; q < NQ; q++)
        for (const [off, a, kv] of [
          [0, acc[q]!, k0],
          [16, acc2[q]!, k1],
        ] as const) {
          mulAdd(
            f,
            fma,
            () => f.localGet(pa).v128Load(32 * q + off),
            () => f.localGet(kv),
            () => f.localGet(a),
          );
          f.localSet(a);
        }
      bump(pa, 32 * NQ);
      bump(pb, 8 * kvBytes);
    });
  };
  if (half) {
    // the fast widening, redone exactly where the key held an infinity or NaN
    f.v128Const0().localSet(special);
    keyDots(false);
    anySpecial();
    f.if();
    keyDots(true);
    f.end();
  } else keyDots(true);
  for (let q = 0; q < NQ; q++) f.localGet(acc[q]!).localGet(acc2[q]!).f32x4Add().localSet(acc[q]!);
  // each query's lanes as horizontalSum adds them, (0 + 1) + (2 + 3), the four side by side
  f.localGet(acc[0]!).localGet(acc[1]!).f32x4Shuffle([0, 4, 2, 6]);
  f.localGet(acc[0]!).localGet(acc[1]!).f32x4Shuffle([1, 5, 3, 7]).f32x4Add().localSet(k0);
  f.localGet(acc[2]!).localGet(acc[3]!).f32x4Shuffle([0, 4, 2, 6]);
  f.localGet(acc[2]!).localGet(acc[3]!).f32x4Shuffle([1, 5, 3, 7]).f32x4Add().localSet(k1);
  f.localGet(k0).localGet(k1).f32x4Shuffle([0, 1, 4, 5]);
  f.localGet(k0).localGet(k1).f32x4Shuffle([2, 3, 6, 7]).f32x4Add();
  f.localGet(desc).f32Load(field("scale")).f32x4Splat().f32x4Mul().localSet(xv);
  f.end();
  for (let q = 0; q < NQ; q++) {
    f.localGet(scratch).localGet(rowBytes).i32Const(q).i32Mul().i32Add().localGet(s).i32Const(4).i32Mul().i32Add();
    f.localGet(xv).f32x4ExtractLane(q).f32Store();
  }
  // max = x > max ? x : max, lane by lane (a NaN score leaves the max alone, as the row kernel's)
  f.localGet(xv).localGet(maxv).localGet(xv).localGet(maxv).f32x4Gt().v128Bitselect().localSet(maxv);
  bump(s, 1);
  f.br(0).end().end();
  f.localGet(mx).localGet(maxv).v128Store();

  // softmax of each query's row, as the row kernel's: e = exp(x - max) in place, 1 / sum (or, in
  // ggml's numerics, e / sum rounded to float16 in place and 1); a row with every key masked gets
  // weights of 0 (no value row added: the row kernel's zeros)
  f.i32Const(0).localSet(g);
  f.block().loop();
  f.localGet(g).i32Const(NQ).i32GeU().brIf(1);
  f.localGet(scratch).localGet(rowBytes).localGet(g).i32Mul().i32Add().localSet(sp);
  f.localGet(mx).localGet(g).i32Const(4).i32Mul().i32Add().f32Load().localSet(max);
  f.localGet(max).f32Const(-Infinity).f32Eq().if();
  f.localGet(S).localSet(j);
  countdown(f, j, () => {
    f.localGet(sp).f32Const(0).f32Store();
    bump(sp, 4);
  });
  f.f32Const(0).localSet(x);
  f.else();
  // pad to whole vectors with -Infinity (exp 0)
  f.localGet(sp).localGet(S).i32Const(4).i32Mul().i32Add().localSet(pa);
  f.localGet(S).i32Const(3).i32And().if();
  f.localGet(S).i32Const(3).i32And().i32Const(4).i32Sub().localSet(j); // -(4 - S % 4)
  f.block().loop();
  f.localGet(j).i32Eqz().brIf(1);
  f.localGet(pa).f32Const(-Infinity).f32Store();
  bump(pa, 4);
  bump(j, 1);
  f.br(0).end().end();
  f.end();
  f.v128Const0().localSet(sum);
  f.localGet(S).i32Const(3).i32Add().i32Const(2).i32ShrU().localSet(j);
  f.localGet(max).f32x4Splat().localSet(xv);
  expShiftInPlaceSum(f, sp, j, xv, sum, exps);
  f.f32Const(1);
  f.localGet(sum).f32x4ExtractLane(0).localGet(sum).f32x4ExtractLane(1).f32Add();
  f.localGet(sum).f32x4ExtractLane(2).localGet(sum).f32x4ExtractLane(3).f32Add();
  f.f32Add().f32Div().localSet(x);
  if (half) {
    f.localGet(roundHalf).if();
    f.localGet(scratch).localGet(rowBytes).localGet(g).i32Mul().i32Add().localSet(sp);
    f.localGet(S).i32Const(3).i32Add().i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(sp).v128Load().localGet(x).f32x4Splat().f32x4Mul().localSet(xv);
      roundHalfLanes(f, xv, rm, rt);
      f.localGet(sp).localGet(xv).v128Store();
      bump(sp, 16);
    });
    f.f32Const(1).localSet(x);
    f.end();
  }
  f.end();
  f.localGet(mx).localGet(g).i32Const(4).i32Mul().i32Add().localGet(x).f32Store(16);
  bump(g, 1);
  f.br(0).end().end();

  // the outputs: zeros, then each value row read once and added to the four rows, times each weight
  f.localGet(oi).localSet(pa);
  f.localGet(D).i32Const(NQ).i32Mul().i32Const(2).i32ShrU().localSet(j);
  countdown(f, j, () => {
    f.localGet(pa).v128Const0().v128Store();
    bump(pa, 16);
  });
  f.i32Const(0).localSet(s);
  f.block().loop();
  f.localGet(s).localGet(S).i32GeU().brIf(1);
  // each query's weight e * (1 / sum); a weight of 0 adds nothing (masked, underflowed: skipped, as the row kernel skips it)
  for (let q = 0; q < NQ; q++) {
    f.localGet(scratch).localGet(rowBytes).i32Const(q).i32Mul().i32Add().localGet(s).i32Const(4).i32Mul().i32Add().f32Load();
    f.localGet(mx)
      .f32Load(16 + 4 * q)
      .f32Mul()
      .localSet(w[q]!);
  }
  f.localGet(vp).localGet(s);
  load("vs");
  f.i32Mul().i32Add().localSet(row);
  /** out rows `qs` += their weights x the value row (pb from `row`, pa from the outputs). */
  const weighted = (qs: readonly number[]): void => {
    if (half) {
      // a row holding an infinity or NaN (its halves' bits, a running maximum, say so) takes the exact widening
      f.v128Const0().localSet(special);
      f.localGet(row).localSet(pb);
      f.localGet(chunks).localSet(j);
      countdown(f, j, () => {
        f.localGet(pb).v128Load().localSet(hv);
        noteSpecials();
        bump(pb, 16);
      });
      anySpecial();
      f.if();
      weightedRows(qs, true);
      f.else();
      weightedRows(qs, false);
      f.end();
    } else weightedRows(qs, true);
  };
  /** out rows `qs` += their weights x the value row (pb from `row`, pa from the outputs), widened `exact`ly or not. */
  const weightedRows = (qs: readonly number[], exact: boolean): void => {
    for (const q of qs) f.localGet(w[q]!).f32x4Splat().localSet(pv[q]!);
    f.localGet(oi).localSet(pa);
    f.localGet(row).localSet(pb);
    f.localGet(chunks).localSet(j);
    countdown(f, j, () => {
      eight(exact);
      for (const q of qs)
        for (const [off, kv] of [
          [0, k0],
          [16, k1],
        ] as const) {
          f.localGet(pa);
          mulAdd(
            f,
            fma,
            () => f.localGet(pv[q]!),
            () => f.localGet(kv),
            () => f.localGet(pa).v128Load(32 * q + off),
          );
          f.v128Store(32 * q + off);
        }
      bump(pa, 32 * NQ);
      bump(pb, 8 * kvBytes);
    });
  };
  // all four weights nonzero (the usual case): one pass; otherwise a pass for each nonzero one
  f.i32Const(1);
  for (let q = 0; q < NQ; q++) f.localGet(w[q]!).f32Const(0).f32Ne().i32And();
  f.if();
  weighted([0, 1, 2, 3].slice(0, NQ));
  f.else();
  for (let q = 0; q < NQ; q++) {
    f.localGet(w[q]!).f32Const(0).f32Ne().if();
    weighted([q]);
    f.end();
  }
  f.end();
  bump(s, 1);
  f.br(0).end().end();

  // the four output rows out of the interleaved scratch: row ((b H + h0 + q) T + t)
  for (let q = 0; q < NQ; q++) {
    f.localGet(bi).localGet(H).i32Mul().localGet(h0).i32Add().i32Const(q).i32Add();
    f.localGet(T).i32Mul().localGet(t).i32Add().localGet(D).i32Mul().i32Const(4).i32Mul();
    load("out");
    f.i32Add().localSet(pb);
    f.localGet(oi)
      .i32Const(32 * q)
      .i32Add()
      .localSet(pa);
    f.localGet(chunks).localSet(j);
    countdown(f, j, () => {
      f.localGet(pb).localGet(pa).v128Load().v128Store();
      f.localGet(pb).localGet(pa).v128Load(16).v128Store(16);
      bump(pa, 32 * NQ);
      bump(pb, 32);
    });
  }
  bump(sub, NQ);
  f.br(0).end().end();

  // heads past the last whole four: the row kernel, one row each
  f.block().loop();
  f.localGet(sub).localGet(G).i32GeU().brIf(1);
  f.localGet(bi).localGet(H).i32Mul().localGet(hk).localGet(G).i32Mul().i32Add().localGet(sub).i32Add();
  f.localGet(T).i32Mul().localGet(t).i32Add().localSet(row);
  f.localGet(desc).localGet(row).localGet(row).i32Const(1).i32Add().localGet(scratch).call(rowFunction);
  bump(sub, 1);
  f.br(0).end().end();

  bump(r, 1);
  f.br(0).end().end();
  return b.def();
}

/** The group kernels, calling the row kernels at `attention` / `attention_f16`'s function indices. */
export function attentionGroupFunctions(fma: boolean, rowF32: number, rowF16: number): FuncDef[] {
  return [attentionGroup(fma, false, rowF32), attentionGroup(fma, true, rowF16)];
}
