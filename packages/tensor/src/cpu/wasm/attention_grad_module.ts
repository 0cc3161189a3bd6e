import { exp4 } from "./activation_module.js";
import { DESC } from "./attention_module.js";
import { bump, countdown, FnBuilder, horizontalSum, mulAdd } from "./builder.js";
import { f32, i32, v128, type Code, type FuncDef } from "./encoder.js";

/**
 * The backward of fused attention, over (batch, kv head) entries:
 * `attention_grad(desc, e0, e1, scratch)` computes dq of every query head that reads kv heads
 * [e0, e1) of the flattened [B, Hkv], and dk and dv of those kv heads (summed over the heads of a
 * grouped-query group), so each thread owns its entries' outputs and every sum runs in one fixed
 * order whoever computes it. Every product is a weighted sum of rows with eight vectors of the
 * output held in registers (one load per multiply-add, no horizontal sums), so k and v of an entry
 * are first transposed into scratch. For each block of up to BLOCK query rows of one head:
 *  - pass A, per row, over the keys up to its last unmasked one (a causal row's t + 1): scores
 *    q k^T, scaled, biased and masked as the forward does, p = softmax (exp on the SIMD
 *    polynomial), dp = g v^T, delta = sum p dp (in key order), ds = p (dp - delta) scale, and
 *    dq = ds k. p and ds of the block stay in scratch.
 *  - pass B, per key some row of the block reaches: dk += ds^T q and dv += p^T g over the rows.
 * A key of weight 0 (masked, or underflowed) adds nothing and is skipped; a row whose keys are all
 * masked gives dq = 0 and adds nothing. `scratch` holds 2 (BLOCK + D) S4 floats (S4 = S rounded up
 * to 4).
 *
 * `desc` is the forward's DESC (its `out` unused) followed by g (the output's gradient,
 * [B, H, T, D] with byte strides, contiguous along D), and dq ([B, H, T, D]), dk and dv
 * ([B, Hkv, S, D]) contiguous.
 */
export const GRAD_DESC = [...DESC, "g", "gb", "gh", "gt", "dq", "dk", "dv"] as const;
type Field = (typeof GRAD_DESC)[number];
const field = (name: Field): number => GRAD_DESC.indexOf(name) * 4;

/** Query rows per block: p and ds of a block (2 x 32 x S floats) stay near the core for pass B. */
export const BLOCK = 32;

function attentionGrad(fma: boolean): FuncDef {
  const b = new FnBuilder("attention_grad");
  const f = b.f;
  const desc = b.param(i32);
  const e0 = b.param(i32);
  const e1 = b.param(i32);
  const scratch = b.param(i32);
  const [e, bi, hk, h, gq, t, t0, rows, u] = Array.from({ length: 9 }, () => b.local(i32));
  const [qp, gp, kp, vp, mp, bp, prow, dsrow, dqp, sp, dsp, s, j] = Array.from({ length: 13 }, () => b.local(i32));
  const [S, D, T, H, G, S4b, P, DS] = Array.from({ length: 8 }, () => b.local(i32));
  const [pa, pb, c, cnt, outer, wp, xp] = Array.from({ length: 7 }, () => b.local(i32));
  const [x, y, max, delta, w] = Array.from({ length: 5 }, () => b.local(f32));
  const [acc, acc2, vec, ev, fx, tmp, sum, wv] = Array.from({ length: 8 }, () => b.local(v128));
  const a = Array.from({ length: 8 }, () => b.local(v128));
  const masked = b.local(i32);
  const [span, L, Lw, blockL, KT, VT] = Array.from({ length: 6 }, () => b.local(i32));

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

  /**
   * out[0, len) (+)= sum over i < n of w_i x_i: w_i the f32 at wBase + i wStride, x_i the len floats at
   * xBase + i xStride (byte addresses and strides, pushed by the callbacks); a weight of 0 is
   * skipped. Eight vectors of out at a time in registers, then single vectors, then single floats,
   * each summed over i in order.
   */
  const weightedSum = (
    len: () => void,
    out: () => void,
    wBase: () => void,
    wStride: () => void,
    xBase: () => void,
    xStride: () => void,
    n: () => void,
    accumulate: boolean,
  ): void => {
    f.i32Const(0).localSet(c);
    const pass = (count: () => void, width: number): void => {
      count();
      f.localSet(outer);
      countdown(f, outer, () => {
        const regs = a.slice(0, width / 4);
        // the accumulators: out's values or zeros
        if (width === 1) {
          if (accumulate) {
            out();
            f.localGet(c).i32Add().f32Load().localSet(y);
          } else f.f32Const(0).localSet(y);
        } else {
          regs.forEach((r, k) => {
            if (accumulate) {
              out();
              f.localGet(c)
                .i32Add()
                .v128Load(k * 16)
                .localSet(r);
            } else f.v128Const0().localSet(r);
          });
        }
        wBase();
        f.localSet(wp);
        xBase();
        f.localGet(c).i32Add().localSet(xp);
        n();
        f.localSet(cnt);
        countdown(f, cnt, () => {
          f.localGet(wp).f32Load().localTee(w).f32Const(0).f32Ne().if();
          if (width === 1) {
            f.localGet(y).localGet(w).localGet(xp).f32Load().f32Mul().f32Add().localSet(y);
          } else {
            f.localGet(w).f32x4Splat().localSet(wv);
            regs.forEach((r, k) => {
              mulAdd(
                f,
                fma,
                () => f.localGet(wv),
                () => f.localGet(xp).v128Load(k * 16),
                () => f.localGet(r),
              );
              f.localSet(r);
            });
          }
          f.end();
          f.localGet(wp);
          wStride();
          f.i32Add().localSet(wp);
          f.localGet(xp);
          xStride();
          f.i32Add().localSet(xp);
        });
        if (width === 1) {
          out();
          f.localGet(c).i32Add().localGet(y).f32Store();
        } else {
          regs.forEach((r, k) => {
            out();
            f.localGet(c)
              .i32Add()
              .localGet(r)
              .v128Store(k * 16);
          });
        }
        bump(f, c, width * 4);
      });
    };
    len();
    f.localSet(span);
    pass(() => f.localGet(span).i32Const(5).i32ShrU(), 32);
    pass(() => f.localGet(span).i32Const(4).i32ShrU().i32Const(1).i32And(), 16);
    pass(() => f.localGet(span).i32Const(2).i32ShrU().i32Const(3).i32And(), 4);
    pass(() => f.localGet(span).i32Const(3).i32And(), 1);
  };

  /** Pass A for query row t (row u of the block): p and ds into scratch, dq of the row. */
  const rowPass = (): void => {
    load("q");
    plus("qb", bi);
    plus("qh", h);
    plus("qt", t);
    f.localSet(qp);
    load("g");
    plus("gb", bi);
    plus("gh", h);
    plus("gt", t);
    f.localSet(gp);
    f.i32Const(0).localSet(mp);
    load("mask");
    f.if();
    load("mask");
    plus("mb", bi);
    plus("mh", h);
    plus("mt", t);
    f.localSet(mp);
    f.end();
    f.i32Const(0).localSet(bp);
    load("bias");
    f.if();
    load("bias");
    plus("bb", bi);
    plus("bh", h);
    plus("bt", t);
    f.localSet(bp);
    f.end();
    f.localGet(P).localGet(u).localGet(S4b).i32Mul().i32Add().localSet(prow);
    f.localGet(DS).localGet(u).localGet(S4b).i32Mul().i32Add().localSet(dsrow);
    // dq row: ((bi H + h) T + t) D floats in
    load("dq");
    f.localGet(bi).localGet(H).i32Mul().localGet(h).i32Add().localGet(T).i32Mul().localGet(t).i32Add();
    f.localGet(D).i32Mul().i32Const(2).i32Shl().i32Add().localSet(dqp);

    // L: keys up to the last unmasked one (a causal row's t + 1); none at all: p = ds = dq = 0
    f.localGet(S).localSet(L);
    f.localGet(mp).if();
    f.block().loop();
    f.localGet(L).i32Eqz().brIf(1);
    f.localGet(mp).localGet(L).i32Const(1).i32Sub();
    load("ms");
    f.i32Mul().i32Add().i32Load8U().brIf(1);
    f.localGet(L).i32Const(1).i32Sub().localSet(L);
    f.br(0).end().end();
    f.end();
    f.localGet(L).localGet(blockL).localGet(L).localGet(blockL).i32GtU().select().localSet(blockL);
    // the weighted sums over keys run to Lw = L rounded up to 16 (within S4): whole vectors in
    // registers; what lies past L is overwritten below
    f.localGet(L).i32Const(15).i32Add().i32Const(-16).i32And().localTee(Lw);
    f.localGet(S4b).i32Const(2).i32ShrU().localTee(j).localGet(Lw).localGet(j).i32LtU().select().localSet(Lw);
    f.f32Const(-Infinity).localSet(max);
    f.localGet(L).if();
    // scores of keys [0, L): q . k as the weights q of the rows of k^T (one load per multiply-add)
    weightedSum(
      () => f.localGet(Lw),
      () => f.localGet(prow),
      () => f.localGet(qp),
      () => f.i32Const(4),
      () => f.localGet(KT),
      () => f.localGet(S4b),
      () => f.localGet(D),
      false,
    );
    // scaled, biased, masked (-Infinity) as the forward, and their max
    f.localGet(prow).localSet(sp);
    f.i32Const(0).localSet(s);
    f.block().loop();
    f.localGet(s).localGet(L).i32GeU().brIf(1);
    f.i32Const(0).localSet(masked);
    f.localGet(mp).if();
    f.localGet(mp).localGet(s);
    load("ms");
    f.i32Mul().i32Add().i32Load8U().i32Eqz().localSet(masked);
    f.end();
    f.localGet(masked).if();
    f.f32Const(-Infinity).localSet(x);
    f.else();
    f.localGet(sp).f32Load();
    scale();
    f.f32Mul().localSet(x);
    f.localGet(bp).if();
    f.localGet(x).localGet(bp).localGet(s);
    load("bs");
    f.i32Mul().i32Add().f32Load().f32Add().localSet(x);
    f.end();
    f.end();
    f.localGet(sp).localGet(x).f32Store();
    f.localGet(x).localGet(max).localGet(x).localGet(max).f32Gt().select().localSet(max);
    bump(f, sp, 4);
    bump(f, s, 1);
    f.br(0).end().end();
    f.end();
    // keys [L, S4): -Infinity (p = 0)
    f.localGet(S4b).i32Const(2).i32ShrU().localGet(L).i32Sub().localSet(j);
    f.localGet(prow).localGet(L).i32Const(2).i32Shl().i32Add().localSet(sp);
    countdown(f, j, () => {
      f.localGet(sp).f32Const(-Infinity).f32Store();
      bump(f, sp, 4);
    });

    f.localGet(max).f32Const(-Infinity).f32Eq().if();
    // every key masked: p = ds = 0, dq = 0
    f.localGet(prow).localSet(sp);
    fill(sp, () => f.localGet(S4b).i32Const(2).i32ShrU(), 0);
    f.localGet(dsrow).localSet(sp);
    fill(sp, () => f.localGet(S4b).i32Const(2).i32ShrU(), 0);
    fill(dqp, () => f.localGet(D), 0);
    f.else();
    // e = exp(x - max) in place, summed; then p = e / sum
    f.v128Const0().localSet(sum);
    f.localGet(prow).localSet(sp);
    f.localGet(S4b).i32Const(4).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(sp).v128Load().localGet(max).f32x4Splat().f32x4Sub().localSet(vec);
      exp4(f, vec, ev, fx, tmp);
      f.localGet(sp).localGet(ev).v128Store();
      f.localGet(sum).localGet(ev).f32x4Add().localSet(sum);
      bump(f, sp, 16);
    });
    f.f32Const(1);
    horizontalSum(f, sum);
    f.f32Div().f32x4Splat().localSet(vec);
    f.localGet(prow).localSet(sp);
    f.localGet(S4b).i32Const(4).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(sp).localGet(sp).v128Load().localGet(vec).f32x4Mul().v128Store();
      bump(f, sp, 16);
    });
    // dp = g . v of keys [0, L) from the rows of v^T (0 beyond), delta = sum p dp in key order
    weightedSum(
      () => f.localGet(Lw),
      () => f.localGet(dsrow),
      () => f.localGet(gp),
      () => f.i32Const(4),
      () => f.localGet(VT),
      () => f.localGet(S4b),
      () => f.localGet(D),
      false,
    );
    f.localGet(S4b).i32Const(2).i32ShrU().localGet(L).i32Sub().localSet(j);
    f.localGet(dsrow).localGet(L).i32Const(2).i32Shl().i32Add().localSet(sp);
    fill(sp, () => f.localGet(j), 0);
    f.f32Const(0).localSet(delta);
    f.localGet(prow).localSet(sp);
    f.localGet(dsrow).localSet(dsp);
    f.localGet(L).localSet(j);
    countdown(f, j, () => {
      f.localGet(delta).localGet(sp).f32Load().localGet(dsp).f32Load().f32Mul().f32Add().localSet(delta);
      bump(f, sp, 4);
      bump(f, dsp, 4);
    });
    // ds = p (dp - delta) scale, whole vectors (the padding has p = dp = 0)
    f.localGet(delta).f32x4Splat().localSet(acc);
    scale();
    f.f32x4Splat().localSet(acc2);
    f.localGet(prow).localSet(sp);
    f.localGet(dsrow).localSet(dsp);
    f.localGet(S4b).i32Const(4).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(dsp);
      f.localGet(sp).v128Load().localGet(dsp).v128Load().localGet(acc).f32x4Sub().f32x4Mul().localGet(acc2).f32x4Mul();
      f.v128Store();
      bump(f, sp, 16);
      bump(f, dsp, 16);
    });
    // dq = sum over keys of ds k
    weightedSum(
      () => f.localGet(D),
      () => f.localGet(dqp),
      () => f.localGet(dsrow),
      () => f.i32Const(4),
      () => f.localGet(kp),
      () => load("ks"),
      () => f.localGet(L),
      false,
    );
    f.end();
  };

  load("S").localSet(S);
  load("D").localSet(D);
  load("T").localSet(T);
  load("H").localSet(H);
  load("G").localSet(G);
  f.localGet(S).i32Const(3).i32Add().i32Const(-4).i32And().i32Const(2).i32Shl().localSet(S4b);
  f.localGet(scratch).localSet(P);
  f.localGet(scratch).localGet(S4b).i32Const(BLOCK).i32Mul().i32Add().localSet(DS);
  f.localGet(DS).localGet(S4b).i32Const(BLOCK).i32Mul().i32Add().localSet(KT);
  f.localGet(KT).localGet(S4b).localGet(D).i32Mul().i32Add().localSet(VT);
  f.localGet(e0).localSet(e);
  f.block().loop();
  f.localGet(e).localGet(e1).i32GeU().brIf(1);
  // entry e = bi Hkv + hk
  f.localGet(e).localGet(H).localGet(G).i32DivU().localTee(j).i32RemU().localSet(hk);
  f.localGet(e).localGet(j).i32DivU().localSet(bi);
  load("k");
  plus("kb", bi);
  plus("kh", hk);
  f.localSet(kp);
  load("v");
  plus("vb", bi);
  plus("vh", hk);
  f.localSet(vp);
  // k^T and v^T of the entry [D, S4] in scratch
  for (const [from, to, stride] of [
    [kp, KT, "ks"],
    [vp, VT, "vs"],
  ] as const) {
    f.i32Const(0).localSet(s);
    f.block().loop();
    f.localGet(s).localGet(S).i32GeU().brIf(1);
    f.localGet(from).localGet(s);
    load(stride);
    f.i32Mul().i32Add().localSet(pa);
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
  f.localGet(t0).localGet(u).i32Add().localSet(t);
  rowPass();
  bump(f, u, 1);
  f.br(0).end().end();
  // pass B: the dk and dv rows of the keys some row of the block reaches, from its ds and p columns
  f.i32Const(0).localSet(s);
  f.block().loop();
  f.localGet(s).localGet(blockL).i32GeU().brIf(1);
  for (const [out, wBase, xName, xb, xh, xt] of [
    ["dk", DS, "q", "qb", "qh", "qt"],
    ["dv", P, "g", "gb", "gh", "gt"],
  ] as const) {
    weightedSum(
      () => f.localGet(D),
      () => {
        load(out);
        f.localGet(e).localGet(S).i32Mul().localGet(s).i32Add().localGet(D).i32Mul().i32Const(2).i32Shl().i32Add();
      },
      () => f.localGet(wBase).localGet(s).i32Const(2).i32Shl().i32Add(),
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
  bump(f, s, 1);
  f.br(0).end().end();
  f.localGet(t0).i32Const(BLOCK).i32Add().localSet(t0);
  f.br(0).end().end();
  bump(f, gq, 1);
  f.br(0).end().end();
  bump(f, e, 1);
  f.br(0).end().end();
  return b.def();
}

export function attentionGradFunctions(fma: boolean): FuncDef[] {
  return [attentionGrad(fma)];
}
