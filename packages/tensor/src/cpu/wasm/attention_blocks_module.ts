import { expLocals, expShiftInPlaceSum } from "./activation_module.js";
import { DESC } from "./attention_module.js";
import { bump, countdown, FnBuilder, horizontalSum, mulAdd } from "./builder.js";
import { f32, i32, v128, type Code, type FuncDef } from "./encoder.js";
import { RoundingCode, roundHalfLanes } from "./ggml_rounding_module.js";

/**
 * Attention by blocks of query rows, whose products are weighted sums of rows held in registers.
 *
 * The backward, over (batch, kv head) entries:
 * `attention_grad(desc, e0, e1, scratch)` computes dq of every query head that reads kv heads
 * [e0, e1) of the flattened [B, Hkv], and dk and dv of those kv heads (summed over the heads of a
 * grouped-query group), so each thread owns its entries' outputs and every sum runs in one fixed
 * order whoever computes it. Every product is a weighted sum of rows, two output rows at a time
 * with four vectors of each in registers (each load of a row feeds two multiply-adds, no
 * horizontal sums), so k and v of an entry are first transposed into scratch. For each block of
 * up to BLOCK query rows of one head:
 *  - pass A, per pair of rows, over the keys up to their last unmasked one (a causal row's
 *    t + 1): scores q k^T, scaled, biased and masked as the forward does, p = softmax (exp on the SIMD
 *    polynomial), dp = g v^T, delta = sum p dp (in key order), ds = p (dp - delta) scale, and
 *    dq = ds k. p and ds of the block stay in scratch.
 *  - pass B, per pair of keys some row of the block reaches: dk += ds^T q and dv += p^T g over
 *    the rows.
 * A key whose weights in both rows of a pair are 0 (masked, or underflowed) is skipped; as in the
 * composed backward, a non-finite value at a masked key can still reach the gradients (0 x Inf).
 * A row whose keys are all masked gives dq = 0 and adds nothing. `scratch` holds
 * scratchFloats(S, D) floats.
 *
 * `attention_blocks(desc, e0, e1, scratch)` is the forward by the same means, over (batch, query
 * head) units [e0, e1) of the flattened [B, H]: k^T once per unit, then per pair of query rows the
 * scores and p as above and out = p v; there each row skips its own keys of p = 0, so a masked
 * key's row of v never reaches it (as in the row kernel, attention_module.ts). With DESC's
 * roundHalf set, the forward rounds each p to float16 (ggml's numerics over a float16 cache; the
 * caller has rounded the query and widened k and v).
 *
 * `desc` is the forward's DESC (`out` used by the forward only) followed by g (the output's
 * gradient, [B, H, T, D] with byte strides, contiguous along D), and dq ([B, H, T, D]), dk and dv
 * ([B, Hkv, S, D]) contiguous (the backward's).
 */
export const GRAD_DESC = [...DESC, "g", "gb", "gh", "gt", "dq", "dk", "dv"] as const;
type Field = (typeof GRAD_DESC)[number];
const field = (name: Field): number => GRAD_DESC.indexOf(name) * 4;

/** Query rows per block: p and ds of a block (2 x 32 x S floats) stay near the core for pass B. */
const BLOCK = 32;

/** Floats of scratch a thread needs: p and ds of a block, k^T and v^T, a row for discarded output. */
export const scratchFloats = (S: number, D: number): number => (2 * BLOCK + 2 * D) * (Math.ceil(S / 4) * 4) + D + 4;

function attentionBlocks(fma: boolean, backward: boolean): FuncDef {
  const b = new FnBuilder(backward ? "attention_grad" : "attention_blocks", new RoundingCode());
  const f = b.f;
  const desc = b.param(i32);
  const e0 = b.param(i32);
  const e1 = b.param(i32);
  const scratch = b.param(i32);
  const [e, bi, hk, h, gq, t0, rows, u, s, j] = Array.from({ length: 10 }, () => b.local(i32));
  const [S, D, T, H, G, S4b, P, DS, KT, VT, DUMMY] = Array.from({ length: 11 }, () => b.local(i32));
  const [pa, pb, sp, dsp, c, cnt, outer, span, wp1, wp2, xp, Lw, Lmax, blockL, masked] = Array.from({ length: 15 }, () => b.local(i32));
  const [x, y1, y2, w1, w2, max] = Array.from({ length: 6 }, () => b.local(f32));
  const [vec, sum, wv1, wv2, xv, dv, sv] = Array.from({ length: 7 }, () => b.local(v128));
  const exps = expLocals(b);
  const a = Array.from({ length: 8 }, () => b.local(v128));
  // the forward's rounding of p to float16 (DESC's roundHalf: ggml's numerics over a float16 cache)
  const [rv, rm, rt] = [b.local(v128), b.local(v128), b.local(v128)];
  /** The locals of one row of a pair. */
  const rowLocals = () => {
    const [t, qp, gp, mp, bp, prow, dsrow, dqp, L] = Array.from({ length: 9 }, () => b.local(i32));
    const delta = b.local(f32);
    return { t, qp, gp, mp, bp, prow, dsrow, dqp, L, delta };
  };
  type Row = ReturnType<typeof rowLocals>;
  const pair: [Row, Row] = [rowLocals(), rowLocals()];
  const [r1, r2] = pair;

  const load = (name: Field): Code => f.localGet(desc).i32Load(field(name));
  const plus = (name: Field, times: number): void => {
    f.localGet(times);
    load(name);
    f.i32Mul().i32Add();
  };
  const scale = (): void => {
    f.localGet(desc).f32Load(field("scale"));
  };
  /** n floats from `at` (a local byte address, moved past them) set to the f32 `value`. */
  const fill = (at: number, n: () => void, value: number): void => {
    n();
    f.localSet(j);
    countdown(f, j, () => {
      f.localGet(at).f32Const(value).f32Store();
      bump(f, at, 4);
    });
  };
  const max32 = (x1: () => void, x2: () => void, into: number): void => {
    x1();
    x2();
    x1();
    x2();
    f.i32GtU().select().localSet(into);
  };

  /**
   * Two rows at once: out1[0, len) (+)= sum over i < n of w1_i x_i and out2 likewise with w2_i,
   * where w1_i, w2_i are the f32s at w1 + i wStride and w2 + i wStride, x_i the len floats at
   * x + i xStride (byte addresses and strides pushed by the callbacks). A pair of weights both 0
   * is skipped (with `exact`, each row skips its own), unless `keepZeros`: where the weights are a
   * query's or an output gradient's values, seldom 0, the test cost more than it saved (two
   * scalar loads, compares and a branch beside eight multiply-adds), and each weight is loaded
   * and splatted in one instruction. Keeping a zero weight changes no sum of finite values (a sum
   * that starts at +0 never becomes -0, and +0 + +-0 = +0); it lets 0 x Infinity reach the sum as
   * the composed product does. Four vectors of each output in registers at a time (each x vector
   * loaded once for both), then single vectors, then single floats, each summed over i in order.
   */
  const weightedSum2 = (
    len: () => void,
    out1: () => void,
    out2: () => void,
    w1Base: () => void,
    w2Base: () => void,
    wStride: () => void,
    xBase: () => void,
    xStride: () => void,
    n: () => void,
    accumulate: boolean,
    exact = false,
    keepZeros = false,
  ): void => {
    f.i32Const(0).localSet(c);
    const pass = (count: () => void, width: number): void => {
      count();
      f.localSet(outer);
      countdown(f, outer, () => {
        const per = width / 4;
        const regs = [a.slice(0, per), a.slice(4, 4 + per)] as const;
        const outs = [out1, out2] as const;
        if (width === 1) {
          for (const [i, y] of [y1, y2].entries()) {
            if (accumulate) {
              outs[i]!();
              f.localGet(c).i32Add().f32Load().localSet(y);
            } else f.f32Const(0).localSet(y);
          }
        } else {
          for (const [i, rs] of regs.entries()) {
            rs.forEach((r, k) => {
              if (accumulate) {
                outs[i]!();
                f.localGet(c)
                  .i32Add()
                  .v128Load(k * 16)
                  .localSet(r);
              } else f.v128Const0().localSet(r);
            });
          }
        }
        w1Base();
        f.localSet(wp1);
        w2Base();
        f.localSet(wp2);
        xBase();
        f.localGet(c).i32Add().localSet(xp);
        n();
        f.localSet(cnt);
        countdown(f, cnt, () => {
          /** The multiply-adds of the rows in `which`. */
          const body = (which: readonly number[]): void => {
            if (width === 1) {
              f.localGet(xp).f32Load().localSet(x);
              if (which.includes(0)) f.localGet(y1).localGet(w1).localGet(x).f32Mul().f32Add().localSet(y1);
              if (which.includes(1)) f.localGet(y2).localGet(w2).localGet(x).f32Mul().f32Add().localSet(y2);
              return;
            }
            if (keepZeros) {
              f.localGet(wp1).v128Load32Splat().localSet(wv1);
              f.localGet(wp2).v128Load32Splat().localSet(wv2);
            } else {
              if (which.includes(0)) f.localGet(w1).f32x4Splat().localSet(wv1);
              if (which.includes(1)) f.localGet(w2).f32x4Splat().localSet(wv2);
            }
            for (let k = 0; k < per; k++) {
              f.localGet(xp)
                .v128Load(k * 16)
                .localSet(xv);
              for (const i of which) {
                const r = regs[i]![k]!;
                const wv = i === 0 ? wv1 : wv2;
                mulAdd(
                  f,
                  fma,
                  () => f.localGet(wv),
                  () => f.localGet(xv),
                  () => f.localGet(r),
                );
                f.localSet(r);
              }
            }
          };
          if (keepZeros) {
            if (width === 1) {
              f.localGet(wp1).f32Load().localSet(w1);
              f.localGet(wp2).f32Load().localSet(w2);
            }
            body([0, 1]);
          } else {
            f.localGet(wp1).f32Load().localTee(w1).f32Const(0).f32Ne();
            f.localGet(wp2).f32Load().localTee(w2).f32Const(0).f32Ne();
            if (exact) {
              // each row skips its own weights of 0 (a masked key's row of v never reaches it)
              f.localSet(masked).if();
              f.localGet(masked).if();
              body([0, 1]);
              f.else();
              body([0]);
              f.end();
              f.else();
              f.localGet(masked).if();
              body([1]);
              f.end();
              f.end();
            } else {
              f.i32Add().if(); // either weight non-zero
              body([0, 1]);
              f.end();
            }
          }
          for (const wp of [wp1, wp2]) {
            f.localGet(wp);
            wStride();
            f.i32Add().localSet(wp);
          }
          f.localGet(xp);
          xStride();
          f.i32Add().localSet(xp);
        });
        if (width === 1) {
          for (const [i, y] of [y1, y2].entries()) {
            outs[i]!();
            f.localGet(c).i32Add().localGet(y).f32Store();
          }
        } else {
          for (const [i, rs] of regs.entries()) {
            rs.forEach((r, k) => {
              outs[i]!();
              f.localGet(c)
                .i32Add()
                .localGet(r)
                .v128Store(k * 16);
            });
          }
        }
        bump(f, c, width * 4);
      });
    };
    len();
    f.localSet(span);
    pass(() => f.localGet(span).i32Const(4).i32ShrU(), 16);
    pass(() => f.localGet(span).i32Const(2).i32ShrU().i32Const(3).i32And(), 4);
    pass(() => f.localGet(span).i32Const(3).i32And(), 1);
  };

  /** Row r's pointers for query t (set in r.t) of head h, block row `uRow` (pushes nothing). */
  const rowSetup = (r: Row, uRow: () => void, discard: boolean): void => {
    load("q");
    plus("qb", bi);
    plus("qh", h);
    plus("qt", r.t);
    f.localSet(r.qp);
    load("g");
    plus("gb", bi);
    plus("gh", h);
    plus("gt", r.t);
    f.localSet(r.gp);
    f.i32Const(0).localSet(r.mp);
    load("mask");
    f.if();
    load("mask");
    plus("mb", bi);
    plus("mh", h);
    plus("mt", r.t);
    f.localSet(r.mp);
    f.end();
    f.i32Const(0).localSet(r.bp);
    load("bias");
    f.if();
    load("bias");
    plus("bb", bi);
    plus("bh", h);
    plus("bt", r.t);
    f.localSet(r.bp);
    f.end();
    f.localGet(P);
    uRow();
    f.localGet(S4b).i32Mul().i32Add().localSet(r.prow);
    f.localGet(DS);
    uRow();
    f.localGet(S4b).i32Mul().i32Add().localSet(r.dsrow);
    if (discard) {
      f.localGet(DUMMY).localSet(r.dqp);
    } else {
      // dq's (out's) row: ((bi H + h) T + t) D floats in
      load(backward ? "dq" : "out");
      f.localGet(bi).localGet(H).i32Mul().localGet(h).i32Add().localGet(T).i32Mul().localGet(r.t).i32Add();
      f.localGet(D).i32Mul().i32Const(2).i32Shl().i32Add().localSet(r.dqp);
    }
    // L: keys up to the last unmasked one (a causal row's t + 1)
    f.localGet(S).localSet(r.L);
    f.localGet(r.mp).if();
    f.block().loop();
    f.localGet(r.L).i32Eqz().brIf(1);
    f.localGet(r.mp).localGet(r.L).i32Const(1).i32Sub();
    load("ms");
    f.i32Mul().i32Add().i32Load8U().brIf(1);
    f.localGet(r.L).i32Const(1).i32Sub().localSet(r.L);
    f.br(0).end().end();
    f.end();
  };

  /** Row r's scores (in its p row) scaled, biased and masked as the forward, -Infinity past L; then p = softmax. */
  const rowSoftmax = (r: Row): void => {
    f.f32Const(-Infinity).localSet(max);
    f.localGet(r.prow).localSet(sp);
    f.i32Const(0).localSet(s);
    f.block().loop();
    f.localGet(s).localGet(r.L).i32GeU().brIf(1);
    f.i32Const(0).localSet(masked);
    f.localGet(r.mp).if();
    f.localGet(r.mp).localGet(s);
    load("ms");
    f.i32Mul().i32Add().i32Load8U().i32Eqz().localSet(masked);
    f.end();
    f.localGet(masked).if();
    f.f32Const(-Infinity).localSet(x);
    f.else();
    f.localGet(sp).f32Load();
    scale();
    f.f32Mul().localSet(x);
    f.localGet(r.bp).if();
    f.localGet(x).localGet(r.bp).localGet(s);
    load("bs");
    f.i32Mul().i32Add().f32Load().f32Add().localSet(x);
    f.end();
    f.end();
    f.localGet(sp).localGet(x).f32Store();
    f.localGet(x).localGet(max).localGet(x).localGet(max).f32Gt().select().localSet(max);
    bump(f, sp, 4);
    bump(f, s, 1);
    f.br(0).end().end();
    // keys [L, Lw): -Infinity (the pair's other row may reach them); [Lw, S4): p = 0 already
    fill(sp, () => f.localGet(Lw).localGet(r.L).i32Sub(), -Infinity);
    fill(sp, () => f.localGet(S4b).i32Const(2).i32ShrU().localGet(Lw).i32Sub(), 0);
    f.localGet(max).f32Const(-Infinity).f32Eq().if();
    // every key masked: p = 0 (so ds = 0 and dq = 0)
    f.localGet(r.prow).localSet(sp);
    fill(sp, () => f.localGet(S4b).i32Const(2).i32ShrU(), 0);
    f.else();
    // e = exp(x - max) in place, summed; then p = e / sum
    f.v128Const0().localSet(sum);
    f.localGet(r.prow).localSet(sp);
    f.localGet(Lw).i32Const(2).i32ShrU().localSet(j);
    f.localGet(max).f32x4Splat().localSet(vec);
    expShiftInPlaceSum(f, sp, j, vec, sum, exps);
    f.f32Const(1);
    horizontalSum(f, sum);
    f.f32Div().f32x4Splat().localSet(vec);
    f.localGet(r.prow).localSet(sp);
    f.localGet(Lw).i32Const(2).i32ShrU().localSet(j);
    const normalize = (round: boolean): void =>
      countdown(f, j, () => {
        if (round) {
          f.localGet(sp).v128Load().localGet(vec).f32x4Mul().localSet(rv);
          roundHalfLanes(f, rv, rm, rt);
          f.localGet(sp).localGet(rv).v128Store();
        } else {
          f.localGet(sp).localGet(sp).v128Load().localGet(vec).f32x4Mul().v128Store();
        }
        bump(f, sp, 16);
      });
    if (backward) {
      normalize(false);
    } else {
      // ggml's numerics over a float16 cache: each weight rounded to float16 (as the row kernel does)
      load("roundHalf");
      f.if();
      normalize(true);
      f.else();
      normalize(false);
      f.end();
    }
    f.end();
  };

  /** Row r's ds from its p and dp (in its ds row, 0 from L on): delta = sum p dp in key order, ds = p (dp - delta) scale. */
  const rowDs = (r: Row): void => {
    f.localGet(r.dsrow).localGet(r.L).i32Const(2).i32Shl().i32Add().localSet(sp);
    fill(sp, () => f.localGet(S4b).i32Const(2).i32ShrU().localGet(r.L).i32Sub(), 0);
    f.f32Const(0).localSet(r.delta);
    f.localGet(r.prow).localSet(sp);
    f.localGet(r.dsrow).localSet(dsp);
    f.localGet(r.L).localSet(j);
    countdown(f, j, () => {
      f.localGet(r.delta).localGet(sp).f32Load().localGet(dsp).f32Load().f32Mul().f32Add().localSet(r.delta);
      bump(f, sp, 4);
      bump(f, dsp, 4);
    });
    // whole vectors up to Lw (p = dp = 0 from L on; ds = 0 from Lw on already)
    f.localGet(r.delta).f32x4Splat().localSet(dv);
    scale();
    f.f32x4Splat().localSet(sv);
    f.localGet(r.prow).localSet(sp);
    f.localGet(r.dsrow).localSet(dsp);
    f.localGet(Lw).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(dsp);
      f.localGet(sp).v128Load().localGet(dsp).v128Load().localGet(dv).f32x4Sub().f32x4Mul().localGet(sv).f32x4Mul();
      f.v128Store();
      bump(f, sp, 16);
      bump(f, dsp, 16);
    });
  };

  /** Pass A for block rows u and u + 1 (when u + 1 is past the block, row 2 repeats row 1 and its dq is discarded). */
  const pairPass = (): void => {
    f.localGet(t0).localGet(u).i32Add().localSet(r1.t);
    rowSetup(r1, () => f.localGet(u), false);
    f.localGet(u).i32Const(1).i32Add().localGet(rows).i32LtU().if();
    f.localGet(r1.t).i32Const(1).i32Add().localSet(r2.t);
    rowSetup(r2, () => f.localGet(u).i32Const(1).i32Add(), false);
    f.else();
    f.localGet(r1.t).localSet(r2.t);
    rowSetup(r2, () => f.localGet(u).i32Const(1).i32Add(), true);
    f.end();
    max32(
      () => f.localGet(r1.L),
      () => f.localGet(r2.L),
      Lmax,
    );
    max32(
      () => f.localGet(Lmax),
      () => f.localGet(blockL),
      blockL,
    );
    // the sums over keys run to Lw = Lmax rounded up to 16 (within S4): whole vectors in
    // registers; what lies past a row's L is overwritten
    f.localGet(Lmax).i32Const(15).i32Add().i32Const(-16).i32And().localTee(Lw);
    f.localGet(S4b).i32Const(2).i32ShrU().localTee(j).localGet(Lw).localGet(j).i32LtU().select().localSet(Lw);
    // scores q k^T: the weights q of the rows of k^T
    weightedSum2(
      () => f.localGet(Lw),
      () => f.localGet(r1.prow),
      () => f.localGet(r2.prow),
      () => f.localGet(r1.qp),
      () => f.localGet(r2.qp),
      () => f.i32Const(4),
      () => f.localGet(KT),
      () => f.localGet(S4b),
      () => f.localGet(D),
      false,
      false,
      true,
    );
    rowSoftmax(r1);
    rowSoftmax(r2);
    if (!backward) {
      // out = p v, each row skipping its keys of p = 0
      weightedSum2(
        () => f.localGet(D),
        () => f.localGet(r1.dqp),
        () => f.localGet(r2.dqp),
        () => f.localGet(r1.prow),
        () => f.localGet(r2.prow),
        () => f.i32Const(4),
        () => f.localGet(pb),
        () => load("vs"),
        () => f.localGet(Lmax),
        false,
        true,
      );
      return;
    }
    // dp = g v^T
    weightedSum2(
      () => f.localGet(Lw),
      () => f.localGet(r1.dsrow),
      () => f.localGet(r2.dsrow),
      () => f.localGet(r1.gp),
      () => f.localGet(r2.gp),
      () => f.i32Const(4),
      () => f.localGet(VT),
      () => f.localGet(S4b),
      () => f.localGet(D),
      false,
      false,
      true,
    );
    rowDs(r1);
    rowDs(r2);
    // dq = ds k
    weightedSum2(
      () => f.localGet(D),
      () => f.localGet(r1.dqp),
      () => f.localGet(r2.dqp),
      () => f.localGet(r1.dsrow),
      () => f.localGet(r2.dsrow),
      () => f.i32Const(4),
      () => f.localGet(pa),
      () => load("ks"),
      () => f.localGet(Lmax),
      false,
    );
  };

  /** k^T of kv head hk of batch bi, [D, S4] at KT. */
  const transposeK = (): void => {
    f.i32Const(0).localSet(s);
    f.block().loop();
    f.localGet(s).localGet(S).i32GeU().brIf(1);
    load("k");
    plus("kb", bi);
    plus("kh", hk);
    plus("ks", s);
    f.localSet(pa);
    f.localGet(KT).localGet(s).i32Const(2).i32Shl().i32Add().localSet(pb);
    f.localGet(D).localSet(j);
    countdown(f, j, () => {
      f.localGet(pb).localGet(pa).f32Load().f32Store();
      bump(f, pa, 4);
      bump(f, pb, { local: S4b });
    });
    bump(f, s, 1);
    f.br(0).end().end();
  };

  /** The forward over (batch, query head) units [e0, e1): k^T once, then the query rows in pairs. */
  const forwardUnits = (): void => {
    f.localGet(e0).localSet(e);
    f.block().loop();
    f.localGet(e).localGet(e1).i32GeU().brIf(1);
    f.localGet(e).localGet(H).i32RemU().localSet(h);
    f.localGet(e).localGet(H).i32DivU().localSet(bi);
    f.localGet(h).localGet(G).i32DivU().localSet(hk);
    transposeK();
    f.i32Const(0).localSet(t0);
    f.block().loop();
    f.localGet(t0).localGet(T).i32GeU().brIf(1);
    f.localGet(T).localGet(t0).i32Sub().localTee(rows).i32Const(BLOCK).localGet(rows).i32Const(BLOCK).i32LtU().select().localSet(rows);
    f.i32Const(0).localSet(u);
    f.block().loop();
    f.localGet(u).localGet(rows).i32GeU().brIf(1);
    // v rows of the kv head (pb: the x base of out's sum)
    load("v");
    plus("vb", bi);
    plus("vh", hk);
    f.localSet(pb);
    pairPass();
    bump(f, u, 2);
    f.br(0).end().end();
    f.localGet(t0).i32Const(BLOCK).i32Add().localSet(t0);
    f.br(0).end().end();
    bump(f, e, 1);
    f.br(0).end().end();
  };

  load("S").localSet(S);
  load("D").localSet(D);
  load("T").localSet(T);
  load("H").localSet(H);
  load("G").localSet(G);
  f.localGet(S).i32Const(3).i32Add().i32Const(-4).i32And().i32Const(2).i32Shl().localSet(S4b);
  f.localGet(scratch).localSet(P);
  f.localGet(P).localGet(S4b).i32Const(BLOCK).i32Mul().i32Add().localSet(DS);
  f.localGet(DS).localGet(S4b).i32Const(BLOCK).i32Mul().i32Add().localSet(KT);
  f.localGet(KT).localGet(S4b).localGet(D).i32Mul().i32Add().localSet(VT);
  f.localGet(VT).localGet(S4b).localGet(D).i32Mul().i32Add().localSet(DUMMY);
  if (!backward) {
    forwardUnits();
    return b.def();
  }
  f.localGet(e0).localSet(e);
  f.block().loop();
  f.localGet(e).localGet(e1).i32GeU().brIf(1);
  // entry e = bi Hkv + hk
  f.localGet(e).localGet(H).localGet(G).i32DivU().localTee(j).i32RemU().localSet(hk);
  f.localGet(e).localGet(j).i32DivU().localSet(bi);
  // k^T and v^T of the entry [D, S4] in scratch
  for (const [name, to, stride] of [
    ["k", KT, "ks"],
    ["v", VT, "vs"],
  ] as const) {
    f.i32Const(0).localSet(s);
    f.block().loop();
    f.localGet(s).localGet(S).i32GeU().brIf(1);
    load(name);
    plus(name === "k" ? "kb" : "vb", bi);
    plus(name === "k" ? "kh" : "vh", hk);
    plus(stride, s);
    f.localSet(pa);
    f.localGet(to).localGet(s).i32Const(2).i32Shl().i32Add().localSet(pb);
    f.localGet(D).localSet(j);
    countdown(f, j, () => {
      f.localGet(pb).localGet(pa).f32Load().f32Store();
      bump(f, pa, 4);
      bump(f, pb, { local: S4b });
    });
    bump(f, s, 1);
    f.br(0).end().end();
  }
  // dk and dv of the entry start at zero
  for (const out of ["dk", "dv"] as const) {
    load(out);
    f.localGet(e).localGet(S).i32Mul().localGet(D).i32Mul().i32Const(2).i32Shl().i32Add().localSet(sp);
    fill(sp, () => f.localGet(S).localGet(D).i32Mul(), 0);
  }
  f.i32Const(0).localSet(gq);
  f.block().loop();
  f.localGet(gq).localGet(G).i32GeU().brIf(1);
  f.localGet(hk).localGet(G).i32Mul().localGet(gq).i32Add().localSet(h);
  f.i32Const(0).localSet(t0);
  f.block().loop();
  f.localGet(t0).localGet(T).i32GeU().brIf(1);
  // rows = min(BLOCK, T - t0)
  f.localGet(T).localGet(t0).i32Sub().localTee(rows).i32Const(BLOCK).localGet(rows).i32Const(BLOCK).i32LtU().select().localSet(rows);
  f.i32Const(0).localSet(u);
  f.i32Const(0).localSet(blockL);
  f.block().loop();
  f.localGet(u).localGet(rows).i32GeU().brIf(1);
  // k rows of the entry (pa: the x base of dq's sum)
  load("k");
  plus("kb", bi);
  plus("kh", hk);
  f.localSet(pa);
  pairPass();
  bump(f, u, 2);
  f.br(0).end().end();
  // pass B: the dk and dv rows of the keys some row of the block reaches (in pairs; a key past S is discarded)
  f.i32Const(0).localSet(s);
  f.block().loop();
  f.localGet(s).localGet(blockL).i32GeU().brIf(1);
  for (const [out, wBase, xName, xb, xh, xt] of [
    ["dk", DS, "q", "qb", "qh", "qt"],
    ["dv", P, "g", "gb", "gh", "gt"],
  ] as const) {
    // key s's row, then key s + 1's (or the discard row)
    load(out);
    f.localGet(e).localGet(S).i32Mul().localGet(s).i32Add().localGet(D).i32Mul().i32Const(2).i32Shl().i32Add().localSet(pa);
    f.localGet(s).i32Const(1).i32Add().localGet(S).i32LtU().if();
    f.localGet(pa).localGet(D).i32Const(2).i32Shl().i32Add().localSet(pb);
    f.else();
    f.localGet(DUMMY).localSet(pb);
    f.end();
    weightedSum2(
      () => f.localGet(D),
      () => f.localGet(pa),
      () => f.localGet(pb),
      () => f.localGet(wBase).localGet(s).i32Const(2).i32Shl().i32Add(),
      () => f.localGet(wBase).localGet(s).i32Const(2).i32Shl().i32Add().i32Const(4).i32Add(),
      () => f.localGet(S4b),
      () => {
        load(xName);
        plus(xb, bi);
        plus(xh, h);
        plus(xt, t0);
      },
      () => load(xt),
      () => f.localGet(rows),
      true,
    );
  }
  bump(f, s, 2);
  f.br(0).end().end();
  f.localGet(t0).i32Const(BLOCK).i32Add().localSet(t0);
  f.br(0).end().end();
  bump(f, gq, 1);
  f.br(0).end().end();
  bump(f, e, 1);
  f.br(0).end().end();
  return b.def();
}

export function attentionBlockFunctions(fma: boolean): FuncDef[] {
  return [attentionBlocks(fma, true), attentionBlocks(fma, false)];
}
