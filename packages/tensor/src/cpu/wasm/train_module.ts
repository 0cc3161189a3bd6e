import { expInterleaved, expLocals, inGroups } from "./activation_module.js";
import { bump, countdown, FnBuilder, horizontalSum } from "./builder.js";
import { f32, f64, i32, v128, type Code, type FuncDef } from "./encoder.js";

/**
 * The kernels a training step runs besides its matmuls, on operands where they live in wasm memory
 * (addresses and strides in bytes). Each splits over threads without changing a result: rows are
 * independent, and every sum over rows runs over a range of columns, through the rows in order.
 *  - `col_sums(x, ldx, rows, cols, out)`: out[c] = sum over rows of x[r, c] (a bias's gradient).
 *  - `row_sums(x, ldx, rows, cols, out)`: out[r] = sum over x[r, :].
 *    Both sum in float64 (as the JS reduce does), rounded to float32 once.
 *  - `scatter_rows(src, lds, idx, n, out, ldo, cols)`: out[idx[j], :] += src[j, :] for j in order
 *    (an embedding's gradient; idx int32, already in range).
 *  - `max_exp_sum(x, ldx, rows, cols, stats)`: per row its max and the sum of e^(x - max), as two
 *    floats (logSoftmax's shift, log taken by the caller).
 *  - `exp_scale_sub_rows(y, g, dst, rows, cols, sums)`: dst = g - e^y sums[r] (logSoftmax's backward).
 *  - `exp_shift_scale_rows(x, shifts, scales, dst, rows, cols)`: dst = e^(x - shifts[r]) scales[r]
 *    (cross-entropy's backward, before its target's -scale).
 *  - `norm_grad_rows(x, g, w, dx, stats, rows, cols, eps, layer)`: layerNorm's (layer = 1) or
 *    rmsNorm's (0) dx, and each row's mean and rstd into stats (for norm_grad_cols); w is the
 *    weight (ones where there is none).
 *  - `norm_grad_cols(x, g, stats, dw, db, rows, cols)`: the weight's gradient sum g xhat (and the
 *    bias's sum g when db != 0) over rows, for the columns given.
 *  - `adamw(p, g, m, v, pOut, mOut, vOut, n, first, decay, c1, b2, c2, stepSize, bias2Sqrt, eps)`:
 *    one AdamW step with float32 rounding after each op, as torch's single-tensor AdamW rounds
 *    (see ../kernels/adamw.ts; no fused multiply-add: it must match bit for bit).
 * Every row or vector loop ends with the last elements one lane at a time: nothing past an
 * operand is written.
 */

/** `body(tail)` over n floats: whole vectors, then one lane at a time (j counts). */
function lanes(f: Code, n: () => void, j: number, body: (tail: boolean) => void): void {
  n();
  f.i32Const(2).i32ShrU().localSet(j);
  countdown(f, j, () => body(false));
  n();
  f.i32Const(3).i32And().localSet(j);
  countdown(f, j, () => body(true));
}

/**
 * As lanes, with the whole vectors WIDTH at a time (inGroups): `body(count, tail)` handles
 * `count` vectors at 16 k from its pointers (or, with tail, one float) and moves the pointers on.
 * The vectors keep their order, so a sum over them does too.
 */
function lanesGrouped(f: Code, n: () => void, j: number, body: (count: number, tail: boolean) => void): void {
  n();
  f.i32Const(2).i32ShrU().localSet(j);
  inGroups(f, j, (count) => body(count, false));
  n();
  f.i32Const(3).i32And().localSet(j);
  countdown(f, j, () => body(1, true));
}

function load(f: Code, p: number, tail: boolean, offset = 0): void {
  f.localGet(p);
  if (tail) f.v128Load32Zero(offset);
  else f.v128Load(offset);
}

function store(f: Code, tail: boolean, offset = 0): void {
  if (tail) f.v128Store32Lane(0, offset);
  else f.v128Store(offset);
}

/** acc0 += lanes 0-1 of local v, acc1 += lanes 2-3, as float64 pairs. */
function addWide(f: Code, v: number, acc0: number, acc1: number): void {
  f.localGet(acc0).localGet(v).f64x2PromoteLowF32x4().f64x2Add().localSet(acc0);
  f.localGet(acc1).localGet(v).localGet(v).f32x4Shuffle([2, 3, 0, 1]).f64x2PromoteLowF32x4().f64x2Add().localSet(acc1);
}

function colSums(): FuncDef {
  const b = new FnBuilder("col_sums");
  const f = b.f;
  const x = b.param(i32);
  const ldx = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const out = b.param(i32);
  const j = b.local(i32);
  const r = b.local(i32);
  const p = b.local(i32);
  const v = b.local(v128);
  const acc0 = b.local(v128);
  const acc1 = b.local(v128);
  const s = b.local(f64);
  const acc = [acc0, acc1, ...Array.from({ length: 6 }, () => b.local(v128))];
  // float64 sums (as the JS kernel keeps them). Sixteen columns (a cache line) at a time as eight
  // f64x2, so each line of x is read once: four at a time read every line four times, from L3
  // once x outgrows L2 (a [2048, 1024] gradient's sums 3.2 -> 0.65 ms). Then four columns as two
  // f64x2, then a column as an f64; every column summed over the rows in order either way.
  const columns = (vectors: number, groups: () => void): void => {
    groups();
    f.localSet(j);
    countdown(f, j, () => {
      for (const a of acc.slice(0, 2 * vectors)) f.v128Const0().localSet(a);
      f.localGet(x).localSet(p).localGet(rows).localSet(r);
      countdown(f, r, () => {
        for (let q = 0; q < vectors; q++) {
          f.localGet(p)
            .v128Load(16 * q)
            .localSet(v);
          addWide(f, v, acc[2 * q]!, acc[2 * q + 1]!);
        }
        f.localGet(p).localGet(ldx).i32Add().localSet(p);
      });
      for (let q = 0; q < vectors; q++) {
        f.localGet(out)
          .localGet(acc[2 * q]!)
          .f32x4DemoteF64x2Zero()
          .localGet(acc[2 * q + 1]!)
          .f32x4DemoteF64x2Zero();
        f.f32x4Shuffle([0, 1, 4, 5]).v128Store(16 * q);
      }
      bump(f, x, 16 * vectors);
      bump(f, out, 16 * vectors);
    });
  };
  columns(4, () => f.localGet(cols).i32Const(4).i32ShrU());
  columns(1, () => f.localGet(cols).i32Const(2).i32ShrU().i32Const(3).i32And());
  f.localGet(cols).i32Const(3).i32And().localSet(j);
  countdown(f, j, () => {
    f.f64Const0().localSet(s);
    f.localGet(x).localSet(p).localGet(rows).localSet(r);
    countdown(f, r, () => {
      f.localGet(s).localGet(p).f32Load().f64PromoteF32().f64Add().localSet(s);
      f.localGet(p).localGet(ldx).i32Add().localSet(p);
    });
    f.localGet(out).localGet(s).f32DemoteF64().f32Store();
    bump(f, x, 4);
    bump(f, out, 4);
  });
  return b.def();
}

/** Pushes the sum of the row at p (cols floats) as an f32: lanes, then the tail in order; p moves past it. */
function rowSum(f: Code, p: number, cols: number, j: number, acc: number, s: number): void {
  f.v128Const0().localSet(acc);
  f.localGet(cols).i32Const(2).i32ShrU().localSet(j);
  countdown(f, j, () => {
    f.localGet(acc).localGet(p).v128Load().f32x4Add().localSet(acc);
    bump(f, p, 16);
  });
  horizontalSum(f, acc);
  f.localSet(s);
  f.localGet(cols).i32Const(3).i32And().localSet(j);
  countdown(f, j, () => {
    f.localGet(s).localGet(p).f32Load().f32Add().localSet(s);
    bump(f, p, 4);
  });
  f.localGet(s);
}

function rowSums(): FuncDef {
  const b = new FnBuilder("row_sums");
  const f = b.f;
  const x = b.param(i32);
  const ldx = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const out = b.param(i32);
  const j = b.local(i32);
  const p = b.local(i32);
  const v = b.local(v128);
  const acc0 = b.local(v128);
  const acc1 = b.local(v128);
  const s = b.local(f64);
  // float64 sums, as col_sums
  countdown(f, rows, () => {
    f.v128Const0().localSet(acc0).v128Const0().localSet(acc1);
    f.localGet(x).localSet(p).localGet(cols).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(p).v128Load().localSet(v);
      addWide(f, v, acc0, acc1);
      bump(f, p, 16);
    });
    f.localGet(acc0).f64x2ExtractLane(0).localGet(acc0).f64x2ExtractLane(1).f64Add();
    f.localGet(acc1).f64x2ExtractLane(0).localGet(acc1).f64x2ExtractLane(1).f64Add().f64Add().localSet(s);
    f.localGet(cols).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(s).localGet(p).f32Load().f64PromoteF32().f64Add().localSet(s);
      bump(f, p, 4);
    });
    f.localGet(out).localGet(s).f32DemoteF64().f32Store();
    bump(f, out, 4);
    f.localGet(x).localGet(ldx).i32Add().localSet(x);
  });
  return b.def();
}

function scatterRows(): FuncDef {
  const b = new FnBuilder("scatter_rows");
  const f = b.f;
  const src = b.param(i32);
  const lds = b.param(i32);
  const idx = b.param(i32);
  const n = b.param(i32);
  const out = b.param(i32);
  const ldo = b.param(i32);
  const cols = b.param(i32);
  const j = b.local(i32);
  const ps = b.local(i32);
  const po = b.local(i32);
  countdown(f, n, () => {
    f.localGet(src).localSet(ps);
    f.localGet(out).localGet(idx).i32Load().localGet(ldo).i32Mul().i32Add().localSet(po);
    lanes(
      f,
      () => f.localGet(cols),
      j,
      (tail) => {
        f.localGet(po);
        load(f, po, tail);
        load(f, ps, tail);
        f.f32x4Add();
        store(f, tail);
        bump(f, po, tail ? 4 : 16);
        bump(f, ps, tail ? 4 : 16);
      },
    );
    f.localGet(src).localGet(lds).i32Add().localSet(src);
    bump(f, idx, 4);
  });
  return b.def();
}

function maxExpSum(): FuncDef {
  const b = new FnBuilder("max_exp_sum");
  const f = b.f;
  const x = b.param(i32);
  const ldx = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const stats = b.param(i32);
  const j = b.local(i32);
  const p = b.local(i32);
  const max = b.local(f32);
  const s = b.local(f32);
  const tailSum = b.local(f32);
  const acc = b.local(v128);
  const mv = b.local(v128);
  const vs = expLocals(b);
  /** max = s > max ? s : max for the f32 in s (a NaN leaves it alone, as the JS loop does). */
  const maxWithS = (): void => void f.localGet(s).localGet(max).localGet(s).localGet(max).f32Gt().select().localSet(max);
  countdown(f, rows, () => {
    // the max: whole vectors by pmax (acc < v ? v : acc, the scalar rule lane by lane), then the
    // lanes and the tail by the scalar rule; the maximum of values is the same in any order except
    // between -0 and +0, so a row whose maximum is zero takes it again in order, as the JS loop does
    f.f32x4Const(-Infinity).localSet(mv);
    f.localGet(x).localSet(p);
    f.localGet(cols).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(mv).localGet(p).v128Load().f32x4Pmax().localSet(mv);
      bump(f, p, 16);
    });
    f.f32Const(-Infinity).localSet(max);
    for (let lane = 0; lane < 4; lane++) {
      f.localGet(mv).f32x4ExtractLane(lane).localSet(s);
      maxWithS();
    }
    f.localGet(cols).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(p).f32Load().localSet(s);
      maxWithS();
      bump(f, p, 4);
    });
    f.localGet(max).f32Const(0).f32Eq().if();
    f.f32Const(-Infinity).localSet(max);
    f.localGet(x).localSet(p).localGet(cols).localSet(j);
    countdown(f, j, () => {
      f.localGet(p).f32Load().localSet(s);
      maxWithS();
      bump(f, p, 4);
    });
    f.end();
    // the sum of e^(x - max): vectors added to acc in order, the tail's lanes after
    f.localGet(max).f32x4Splat().localSet(mv);
    f.v128Const0().localSet(acc);
    f.f32Const(0).localSet(tailSum);
    f.localGet(x).localSet(p);
    lanesGrouped(
      f,
      () => f.localGet(cols),
      j,
      (count, tail) => {
        const group = vs.slice(0, count);
        group.forEach(({ x: v }, k) => {
          load(f, p, tail, 16 * k);
          f.localGet(mv).f32x4Sub().localSet(v);
        });
        expInterleaved(f, group);
        for (const { out: e } of group) {
          if (tail) f.localGet(tailSum).localGet(e).f32x4ExtractLane(0).f32Add().localSet(tailSum);
          else f.localGet(acc).localGet(e).f32x4Add().localSet(acc);
        }
        bump(f, p, tail ? 4 : 16 * count);
      },
    );
    f.localGet(stats).localGet(max).f32Store();
    f.localGet(stats);
    horizontalSum(f, acc);
    f.localGet(tailSum).f32Add().f32Store(4);
    bump(f, stats, 8);
    f.localGet(x).localGet(ldx).i32Add().localSet(x);
  });
  return b.def();
}

function expScaleSubRows(): FuncDef {
  const b = new FnBuilder("exp_scale_sub_rows");
  const f = b.f;
  const y = b.param(i32);
  const g = b.param(i32);
  const dst = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const sums = b.param(i32);
  const j = b.local(i32);
  const sv = b.local(v128);
  const vs = expLocals(b);
  countdown(f, rows, () => {
    f.localGet(sums).v128Load32Splat().localSet(sv);
    lanesGrouped(
      f,
      () => f.localGet(cols),
      j,
      (count, tail) => {
        const group = vs.slice(0, count);
        group.forEach(({ x: v }, k) => {
          load(f, y, tail, 16 * k);
          f.localSet(v);
        });
        expInterleaved(f, group);
        group.forEach(({ out: e }, k) => {
          f.localGet(dst);
          load(f, g, tail, 16 * k);
          f.localGet(e).localGet(sv).f32x4Mul().f32x4Sub();
          store(f, tail, 16 * k);
        });
        for (const p of [y, g, dst]) bump(f, p, tail ? 4 : 16 * count);
      },
    );
    bump(f, sums, 4);
  });
  return b.def();
}

/**
 * `exp_shift_scale_rows(x, shifts, scales, dst, rows, cols)`: dst = e^(x - shift_r) scale_r + 0, the
 * difference rounded to float32 before the exp as logSoftmax's output is (cross-entropy's backward
 * from the logits and each row's log-sum-exp, without the log-probabilities).
 */
function expShiftScaleRows(): FuncDef {
  const b = new FnBuilder("exp_shift_scale_rows");
  const f = b.f;
  const x = b.param(i32);
  const shifts = b.param(i32);
  const scales = b.param(i32);
  const dst = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const j = b.local(i32);
  const shift = b.local(v128);
  const scale = b.local(v128);
  const vs = expLocals(b);
  countdown(f, rows, () => {
    f.localGet(shifts).v128Load32Splat().localSet(shift);
    f.localGet(scales).v128Load32Splat().localSet(scale);
    lanesGrouped(
      f,
      () => f.localGet(cols),
      j,
      (count, tail) => {
        const group = vs.slice(0, count);
        group.forEach(({ x: v }, k) => {
          load(f, x, tail, 16 * k);
          f.localGet(shift).f32x4Sub().localSet(v);
        });
        expInterleaved(f, group);
        // + 0: a zero product is +0 whatever scale's sign, as logSoftmax's backward's 0 - e (-scale)
        group.forEach(({ out: e }, k) => {
          f.localGet(dst).localGet(e).localGet(scale).f32x4Mul().v128Const0().f32x4Add();
          store(f, tail, 16 * k);
        });
        for (const p of [x, dst]) bump(f, p, tail ? 4 : 16 * count);
      },
    );
    bump(f, shifts, 4);
    bump(f, scales, 4);
  });
  return b.def();
}

function normGradRows(): FuncDef {
  const b = new FnBuilder("norm_grad_rows");
  const f = b.f;
  const x = b.param(i32);
  const g = b.param(i32);
  const w = b.param(i32);
  const dx = b.param(i32);
  const stats = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const eps = b.param(f32);
  const layer = b.param(i32);
  const j = b.local(i32);
  const px = b.local(i32);
  const pg = b.local(i32);
  const pw = b.local(i32);
  const pd = b.local(i32);
  const n = b.local(f32);
  const mean = b.local(f32);
  const rstd = b.local(f32);
  const s = b.local(f32);
  const sumD = b.local(f32);
  const sumDX = b.local(f32);
  const acc = b.local(v128);
  const accD = b.local(v128);
  const accDX = b.local(v128);
  const mv = b.local(v128);
  const rv = b.local(v128);
  const d = b.local(v128);
  const xh = b.local(v128);
  const k1 = b.local(v128);
  const k2 = b.local(v128);
  f.localGet(cols).f32ConvertI32U().localSet(n);
  /** d = g (* w) into local d, xhat into local xh, from the loads at the pointers. */
  const dAndXhat = (tail: boolean): void => {
    load(f, pg, tail);
    load(f, pw, tail);
    f.f32x4Mul().localSet(d);
    load(f, px, tail);
    f.localGet(mv).f32x4Sub().localGet(rv).f32x4Mul().localSet(xh);
  };
  countdown(f, rows, () => {
    // mean (layer) and rstd, as the forward kernels compute them
    f.f32Const(0).localSet(mean);
    f.localGet(layer).if();
    f.localGet(x).localSet(px);
    rowSum(f, px, cols, j, acc, s);
    f.localGet(n).f32Div().localSet(mean);
    f.end();
    f.localGet(mean).f32x4Splat().localSet(mv);
    f.v128Const0().localSet(acc);
    f.f32Const(0).localSet(s);
    f.localGet(x).localSet(px);
    lanes(
      f,
      () => f.localGet(cols),
      j,
      (tail) => {
        load(f, px, tail);
        f.localGet(mv).f32x4Sub().localTee(d).localGet(d).f32x4Mul().localSet(d);
        if (tail) f.localGet(s).localGet(d).f32x4ExtractLane(0).f32Add().localSet(s);
        else f.localGet(acc).localGet(d).f32x4Add().localSet(acc);
        bump(f, px, tail ? 4 : 16);
      },
    );
    horizontalSum(f, acc);
    f.localGet(s).f32Add().localGet(n).f32Div().localGet(eps).f32Add().f32Sqrt().localSet(rstd);
    f.f32Const(1).localGet(rstd).f32Div().localSet(rstd);
    f.localGet(rstd).f32x4Splat().localSet(rv);
    f.localGet(stats).localGet(mean).f32Store().localGet(stats).localGet(rstd).f32Store(4);
    bump(f, stats, 8);
    // sums of d and d xhat (layer), or of d x (rms: xhat = x rstd, so d xhat / rstd)
    f.v128Const0().localSet(accD).v128Const0().localSet(accDX);
    f.f32Const(0).localSet(sumD).f32Const(0).localSet(sumDX);
    f.localGet(x).localSet(px).localGet(g).localSet(pg).localGet(w).localSet(pw);
    lanes(
      f,
      () => f.localGet(cols),
      j,
      (tail) => {
        dAndXhat(tail);
        if (tail) {
          f.localGet(sumD).localGet(d).f32x4ExtractLane(0).f32Add().localSet(sumD);
          f.localGet(sumDX).localGet(d).localGet(xh).f32x4Mul().f32x4ExtractLane(0).f32Add().localSet(sumDX);
        } else {
          f.localGet(accD).localGet(d).f32x4Add().localSet(accD);
          f.localGet(accDX).localGet(d).localGet(xh).f32x4Mul().f32x4Add().localSet(accDX);
        }
        for (const p of [px, pg, pw]) bump(f, p, tail ? 4 : 16);
      },
    );
    horizontalSum(f, accD);
    f.localGet(sumD).f32Add().localGet(n).f32Div().localSet(sumD); // mean(d)
    horizontalSum(f, accDX);
    f.localGet(sumDX).f32Add().localGet(n).f32Div().localSet(sumDX); // mean(d xhat)
    // dx = rstd (d - mean(d) - xhat mean(d xhat)) for layerNorm; rstd (d - xhat mean(d xhat)) for rms
    f.localGet(layer).if().localGet(sumD).f32x4Splat().localSet(k1).else().v128Const0().localSet(k1).end();
    f.localGet(sumDX).f32x4Splat().localSet(k2);
    f.localGet(x).localSet(px).localGet(g).localSet(pg).localGet(w).localSet(pw).localGet(dx).localSet(pd);
    lanes(
      f,
      () => f.localGet(cols),
      j,
      (tail) => {
        dAndXhat(tail);
        f.localGet(pd);
        f.localGet(d).localGet(k1).f32x4Sub().localGet(xh).localGet(k2).f32x4Mul().f32x4Sub().localGet(rv).f32x4Mul();
        store(f, tail);
        for (const p of [px, pg, pw, pd]) bump(f, p, tail ? 4 : 16);
      },
    );
    f.localGet(cols).i32Const(2).i32Shl().localSet(j);
    for (const p of [x, g, dx]) f.localGet(p).localGet(j).i32Add().localSet(p);
  });
  return b.def();
}

function normGradCols(): FuncDef {
  const b = new FnBuilder("norm_grad_cols");
  const f = b.f;
  const x = b.param(i32);
  const g = b.param(i32);
  const stats = b.param(i32);
  const dw = b.param(i32);
  const db = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const ld = b.param(i32);
  const j = b.local(i32);
  const r = b.local(i32);
  const px = b.local(i32);
  const pg = b.local(i32);
  const ps = b.local(i32);
  const aw = b.local(v128);
  const ab = b.local(v128);
  const gv = b.local(v128);
  lanes(
    f,
    () => f.localGet(cols),
    j,
    (tail) => {
      f.v128Const0().localSet(aw).v128Const0().localSet(ab);
      f.localGet(x).localSet(px).localGet(g).localSet(pg).localGet(stats).localSet(ps).localGet(rows).localSet(r);
      countdown(f, r, () => {
        load(f, pg, tail);
        f.localSet(gv);
        // g xhat = g (x - mean) rstd
        f.localGet(aw).localGet(gv);
        load(f, px, tail);
        f.localGet(ps).v128Load32Splat().f32x4Sub().localGet(ps).v128Load32Splat(4).f32x4Mul().f32x4Mul().f32x4Add().localSet(aw);
        f.localGet(ab).localGet(gv).f32x4Add().localSet(ab);
        f.localGet(px).localGet(ld).i32Add().localSet(px);
        f.localGet(pg).localGet(ld).i32Add().localSet(pg);
        bump(f, ps, 8);
      });
      f.localGet(dw).localGet(aw);
      store(f, tail);
      f.localGet(db).if().localGet(db).localGet(ab);
      store(f, tail);
      f.end();
      for (const p of [x, g, dw]) bump(f, p, tail ? 4 : 16);
      f.localGet(db).if();
      bump(f, db, tail ? 4 : 16);
      f.end();
    },
  );
  return b.def();
}

function adamw(): FuncDef {
  const b = new FnBuilder("adamw");
  const f = b.f;
  const p = b.param(i32);
  const g = b.param(i32);
  const m = b.param(i32);
  const v = b.param(i32);
  const pOut = b.param(i32);
  const mOut = b.param(i32);
  const vOut = b.param(i32);
  const n = b.param(i32);
  const first = b.param(i32);
  const decay = b.param(f32);
  const c1 = b.param(f32);
  const b2 = b.param(f32);
  const c2 = b.param(f32);
  const stepSize = b.param(f32);
  const bias2Sqrt = b.param(f32);
  const eps = b.param(f32);
  const hasDecay = b.param(i32);
  const j = b.local(i32);
  const gv = b.local(v128);
  const mv = b.local(v128);
  const vv = b.local(v128);
  const pv = b.local(v128);
  const step = (tail: boolean): void => {
    load(f, p, tail);
    f.localSet(pv);
    f.localGet(hasDecay).if().localGet(pv).localGet(decay).f32x4Splat().f32x4Mul().localSet(pv).end();
    load(f, g, tail);
    f.localSet(gv);
    f.localGet(first).if();
    // m = g c1; v = (g g) c2
    f.localGet(gv).localGet(c1).f32x4Splat().f32x4Mul().localSet(mv);
    f.localGet(gv).localGet(gv).f32x4Mul().localGet(c2).f32x4Splat().f32x4Mul().localSet(vv);
    f.else();
    // m = m + (g - m) c1; v = v b2 + (g g) c2
    load(f, m, tail);
    f.localTee(mv).localGet(gv).localGet(mv).f32x4Sub().localGet(c1).f32x4Splat().f32x4Mul().f32x4Add().localSet(mv);
    load(f, v, tail);
    f.localGet(b2)
      .f32x4Splat()
      .f32x4Mul()
      .localGet(gv)
      .localGet(gv)
      .f32x4Mul()
      .localGet(c2)
      .f32x4Splat()
      .f32x4Mul()
      .f32x4Add()
      .localSet(vv);
    f.end();
    // p = p - (m / (sqrt(v) / bias2Sqrt + eps)) stepSize
    f.localGet(pOut).localGet(pv);
    f.localGet(mv).localGet(vv).f32x4Sqrt().localGet(bias2Sqrt).f32x4Splat().f32x4Div().localGet(eps).f32x4Splat().f32x4Add().f32x4Div();
    f.localGet(stepSize).f32x4Splat().f32x4Mul().f32x4Sub();
    store(f, tail);
    f.localGet(mOut).localGet(mv);
    store(f, tail);
    f.localGet(vOut).localGet(vv);
    store(f, tail);
    for (const q of [p, g, m, v, pOut, mOut, vOut]) bump(f, q, tail ? 4 : 16);
  };
  lanes(f, () => f.localGet(n), j, step);
  return b.def();
}

export function trainFunctions(): FuncDef[] {
  return [
    colSums(),
    rowSums(),
    scatterRows(),
    maxExpSum(),
    expScaleSubRows(),
    expShiftScaleRows(),
    normGradRows(),
    normGradCols(),
    adamw(),
  ];
}
