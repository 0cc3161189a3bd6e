import { exp4 } from "./activation_module.js";
import { bump, countdown, FnBuilder, horizontalSum } from "./builder.js";
import { f32, i32, v128, type Code, type FuncDef } from "./encoder.js";
import { StoredCode } from "./gemv_stored_module.js";

/**
 * Row kernels over rows of `cols` contiguous floats (x's rows ldx bytes apart; out contiguous), on
 * operands where they live in wasm memory (addresses in bytes; weight and bias addresses of 0 mean
 * none). Sums run in four float32 lanes,
 * added (0 + 1) + (2 + 3), then the cols % 4 last elements in order, so a row's result does not
 * depend on which thread computes it. Nothing past a row is read into a result or written.
 *  - `layer_norm(x, ldx, w, b, out, rows, cols, eps)`: (x - mean) / sqrt(var + eps) * w + b, the
 *    biased variance from the centred squares (a second pass, as the JS kernel);
 *  - `rms_norm(x, ldx, w, out, rows, cols, eps)`: x / sqrt(mean(x^2) + eps) * w;
 *  - `softmax(x, ldx, out, rows, cols)`: e^(x - max) / sum; a row of -Infinity gives zeros;
 *  - `argmax_rows(x, ldx, out, rows, cols)`: each row's index of its maximum as an int32 (see argmaxRows).
 */
interface Locals {
  p: number;
  q: number;
  j: number;
  v: number;
  acc: number;
  s: number;
}

/**
 * Pushes the f32 sum over the row at `row` of `term` (which turns the loaded vector in l.v into
 * the vector to add; in the tail, lane 0 of a zero-extended load is used).
 */
function rowSum(f: Code, l: Locals, row: number, cols: number, term: () => void): void {
  f.v128Const0().localSet(l.acc);
  f.localGet(row).localSet(l.p).localGet(cols).i32Const(2).i32ShrU().localSet(l.j);
  countdown(f, l.j, () => {
    f.localGet(l.p).v128Load().localSet(l.v);
    f.localGet(l.acc);
    term();
    f.f32x4Add().localSet(l.acc);
    bump(f, l.p, 16);
  });
  horizontalSum(f, l.acc);
  f.localSet(l.s);
  f.localGet(cols).i32Const(3).i32And().localSet(l.j);
  countdown(f, l.j, () => {
    f.localGet(l.p).v128Load32Zero().localSet(l.v);
    f.localGet(l.s);
    term();
    f.f32x4ExtractLane(0).f32Add().localSet(l.s);
    bump(f, l.p, 4);
  });
  f.localGet(l.s);
}

/**
 * out[i] = value(x[i], ...) over the row: whole vectors, then the tail one lane at a time (loaded
 * zero-extended, lane 0 stored). `value(tail)` pushes the vector from l.v; `ptrs` advance with x.
 */
function rowMap(f: Code, l: Locals, x: number, out: number, cols: number, ptrs: number[], value: (tail: boolean) => void): void {
  f.localGet(x).localSet(l.p).localGet(out).localSet(l.q).localGet(cols).i32Const(2).i32ShrU().localSet(l.j);
  for (const tail of [false, true]) {
    if (tail) f.localGet(cols).i32Const(3).i32And().localSet(l.j);
    countdown(f, l.j, () => {
      f.localGet(l.q);
      f.localGet(l.p);
      if (tail) f.v128Load32Zero();
      else f.v128Load();
      f.localSet(l.v);
      value(tail);
      if (tail) f.v128Store32Lane(0);
      else f.v128Store();
      const step = tail ? 4 : 16;
      for (const p of [l.p, l.q, ...ptrs]) bump(f, p, step);
    });
  }
}

/** Pushes the vector (or, in the tail, the zero-extended float) at pointer `p`. */
function loadAt(f: Code, p: number, tail: boolean): void {
  f.localGet(p);
  if (tail) f.v128Load32Zero();
  else f.v128Load();
}

/** Emits `branches` as if / else if / else on their conditions (the last runs when none holds). */
function choose(f: Code, branches: { when: (() => void) | null; body: () => void }[]): void {
  for (const br of branches) {
    if (br.when) {
      br.when();
      f.if();
      br.body();
      f.else();
    } else {
      br.body();
    }
  }
  for (const br of branches) if (br.when) f.end();
}

function norm(kind: "layer" | "rms"): FuncDef {
  const b = new FnBuilder(kind === "layer" ? "layer_norm" : "rms_norm");
  const f = b.f;
  const x = b.param(i32);
  const ldx = b.param(i32);
  const w = b.param(i32);
  const bias = kind === "layer" ? b.param(i32) : -1;
  const out = b.param(i32);
  const rows = b.param(i32);
  const cols = b.param(i32);
  const eps = b.param(f32);
  const l: Locals = { p: b.local(i32), q: b.local(i32), j: b.local(i32), v: b.local(v128), acc: b.local(v128), s: b.local(f32) };
  const pw = b.local(i32);
  const pb = b.local(i32);
  const mean = b.local(f32);
  const rstd = b.local(f32);
  const mv = b.local(v128);
  const rv = b.local(v128);
  const n = b.local(f32);
  f.localGet(cols).f32ConvertI32U().localSet(n);
  countdown(f, rows, () => {
    if (kind === "layer") {
      rowSum(f, l, x, cols, () => f.localGet(l.v));
      f.localGet(n).f32Div().localSet(mean);
      f.localGet(mean).f32x4Splat().localSet(mv);
      rowSum(f, l, x, cols, () => {
        f.localGet(l.v).localGet(mv).f32x4Sub().localGet(l.v).localGet(mv).f32x4Sub().f32x4Mul();
      });
    } else {
      f.v128Const0().localSet(mv);
      rowSum(f, l, x, cols, () => {
        f.localGet(l.v).localGet(l.v).f32x4Mul();
      });
    }
    f.localGet(n).f32Div().localGet(eps).f32Add().f32Sqrt().localSet(rstd);
    f.f32Const(1).localGet(rstd).f32Div().localSet(rstd);
    f.localGet(rstd).f32x4Splat().localSet(rv);
    // out = (x - mean) * rstd (* w) (+ b): a loop per case, so none has a branch inside
    const emit = (withW: boolean, withB: boolean): void => {
      f.localGet(w).localSet(pw);
      if (withB) f.localGet(bias).localSet(pb);
      rowMap(f, l, x, out, cols, [...(withW ? [pw] : []), ...(withB ? [pb] : [])], (tail) => {
        f.localGet(l.v).localGet(mv).f32x4Sub().localGet(rv).f32x4Mul();
        if (withW) {
          loadAt(f, pw, tail);
          f.f32x4Mul();
        }
        if (withB) {
          loadAt(f, pb, tail);
          f.f32x4Add();
        }
      });
    };
    const hasW = (): void => void f.localGet(w).i32Const(0).i32Ne();
    if (kind === "layer") {
      const hasB = (): void => void f.localGet(bias).i32Const(0).i32Ne();
      choose(f, [
        {
          when: () => {
            hasW();
            hasB();
            f.i32And();
          },
          body: () => emit(true, true),
        },
        { when: hasW, body: () => emit(true, false) },
        { when: hasB, body: () => emit(false, true) },
        { when: null, body: () => emit(false, false) },
      ]);
    } else {
      choose(f, [
        { when: hasW, body: () => emit(true, false) },
        { when: null, body: () => emit(false, false) },
      ]);
    }
    f.localGet(x).localGet(ldx).i32Add().localSet(x);
    f.localGet(out).localGet(cols).i32Const(2).i32Shl().i32Add().localSet(out);
  });
  return b.def();
}

/** The parameters of a kernel over rows into a contiguous output: x, ldx, out, rows, cols. */
function rowParams(b: FnBuilder<Code>): [number, number, number, number, number] {
  return [b.param(i32), b.param(i32), b.param(i32), b.param(i32), b.param(i32)];
}

function softmax(): FuncDef {
  const b = new FnBuilder("softmax");
  const f = b.f;
  const [x, ldx, out, rows, cols] = rowParams(b);
  const l: Locals = { p: b.local(i32), q: b.local(i32), j: b.local(i32), v: b.local(v128), acc: b.local(v128), s: b.local(f32) };
  const max = b.local(f32);
  const tailSum = b.local(f32);
  const mv = b.local(v128);
  const e = b.local(v128);
  const fx = b.local(v128);
  const t = b.local(v128);
  const arg = b.local(v128);
  const s = b.local(f32);
  countdown(f, rows, () => {
    // the max over the row (a NaN leaves it alone, as the JS loop does)
    f.f32Const(-Infinity).localSet(max);
    f.localGet(x).localSet(l.p).localGet(cols).localSet(l.j);
    countdown(f, l.j, () => {
      f.localGet(l.p).f32Load().localSet(s);
      f.localGet(s).localGet(max).localGet(s).localGet(max).f32Gt().select().localSet(max);
      bump(f, l.p, 4);
    });
    f.localGet(max).f32Const(-Infinity).f32Eq().if();
    f.localGet(out).localSet(l.q).localGet(cols).localSet(l.j);
    countdown(f, l.j, () => {
      f.localGet(l.q).f32Const(0).f32Store();
      bump(f, l.q, 4);
    });
    f.else();
    f.localGet(max).f32x4Splat().localSet(mv);
    // e = exp(x - max) into out; whole vectors summed in lanes, the tail in order after them
    f.v128Const0().localSet(l.acc);
    f.f32Const(0).localSet(tailSum);
    rowMap(f, l, x, out, cols, [], (tail) => {
      f.localGet(l.v).localGet(mv).f32x4Sub().localSet(arg);
      exp4(f, arg, e, fx, t);
      if (tail) f.localGet(tailSum).localGet(e).f32x4ExtractLane(0).f32Add().localSet(tailSum);
      else f.localGet(l.acc).localGet(e).f32x4Add().localSet(l.acc);
      f.localGet(e);
    });
    f.f32Const(1);
    horizontalSum(f, l.acc);
    f.localGet(tailSum).f32Add().f32Div().f32x4Splat().localSet(mv);
    rowMap(f, l, out, out, cols, [], () => {
      f.localGet(l.v).localGet(mv).f32x4Mul();
    });
    f.end();
    f.localGet(x).localGet(ldx).i32Add().localSet(x);
    f.localGet(out).localGet(cols).i32Const(2).i32Shl().i32Add().localSet(out);
  });
  return b.def();
}

// biome-ignore format: the opcode methods are a table, one line each
class ArgmaxCode extends StoredCode {
  f32x4Ne(): this { return this.simdOp(0x42); }
  v128AnyTrue(): this { return this.simdOp(0x53); }
}

/**
 * `argmax_rows(x, ldx, out, rows, cols)`, cols >= 1: the index of each row's first maximum, or of
 * its first NaN where it has one (the JS kernel's answer, numpy's). Two passes of four lanes: the
 * maximum (pmax, one x86 instruction: a NaN never replaces it, so NaNs are noted beside it), then
 * the first position equal to it (or the first NaN), found vector by vector and then lane by lane.
 * -0 and +0 compare equal in the second pass, so a row whose maximum is zero gives its first zero,
 * as the JS loop's strict greater-than does. GPT-2's 50,257 logits: a few microseconds, where the
 * JS loop over the heap's shared memory took 70.
 */
function argmaxRows(): FuncDef {
  const b = new FnBuilder("argmax_rows", new ArgmaxCode());
  const f = b.f;
  const [x, ldx, out, rows, cols] = rowParams(b);
  const [p, j, k, nan] = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const [mv, nv, v] = [b.local(v128), b.local(v128), b.local(v128)];
  const [m, s] = [b.local(f32), b.local(f32)];
  /** m = m < value ? value : m (pmax), for the f32 pushed by `value`. */
  const maxWith = (value: () => void): void => {
    value();
    f.localGet(m);
    f.localGet(m);
    value();
    f.f32Lt().select().localSet(m);
  };
  /** The second pass's test on the vector in v (or, with `scalar`, the float in s): NaN, or equal to the maximum. */
  const hit = (scalar: boolean): void => {
    if (scalar) f.localGet(s).localGet(s).f32Ne().localGet(s).localGet(m).f32Eq();
    else f.localGet(v).localGet(v).f32x4Ne().localGet(v).localGet(mv).f32x4Eq();
    f.localGet(nan).select();
    if (!scalar) f.v128AnyTrue();
  };
  countdown(f, rows, () => {
    f.f32x4Const(-Infinity).localSet(mv);
    f.v128Const0().localSet(nv);
    f.localGet(x).localSet(p).localGet(cols).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(p).v128Load().localSet(v);
      f.localGet(mv).localGet(v).f32x4Pmax().localSet(mv);
      f.localGet(nv).localGet(v).localGet(v).f32x4Ne().v128Or().localSet(nv);
      bump(f, p, 16);
    });
    f.localGet(nv).v128AnyTrue().localSet(nan);
    f.localGet(mv).f32x4ExtractLane(0).localSet(m);
    for (let lane = 1; lane < 4; lane++) maxWith(() => f.localGet(mv).f32x4ExtractLane(lane));
    f.localGet(cols).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(p).f32Load().localSet(s);
      f.localGet(nan).localGet(s).localGet(s).f32Ne().i32Or().localSet(nan);
      maxWith(() => f.localGet(s));
      bump(f, p, 4);
    });
    f.localGet(m).f32x4Splat().localSet(mv);
    // the first hit: the vector holding it, then its lane (or the tail)
    f.localGet(x).localSet(p).i32Const(0).localSet(k).localGet(cols).i32Const(2).i32ShrU().localSet(j);
    f.block().loop();
    f.localGet(j).i32Eqz().brIf(1);
    f.localGet(p).v128Load().localSet(v);
    hit(false);
    f.brIf(1);
    bump(f, p, 16);
    bump(f, k, 4);
    f.localGet(j).i32Const(1).i32Sub().localSet(j);
    f.br(0);
    f.end().end();
    f.block().loop();
    f.localGet(k).localGet(cols).i32GeU().brIf(1);
    f.localGet(p).f32Load().localSet(s);
    hit(true);
    f.brIf(1);
    bump(f, p, 4);
    bump(f, k, 1);
    f.br(0);
    f.end().end();
    f.localGet(out).localGet(k).i32Store();
    bump(f, out, 4);
    f.localGet(x).localGet(ldx).i32Add().localSet(x);
  });
  return b.def();
}

export function rowsFunctions(): FuncDef[] {
  return [norm("layer"), norm("rms"), softmax(), argmaxRows()];
}
