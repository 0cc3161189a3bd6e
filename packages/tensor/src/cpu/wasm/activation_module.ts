import { Code, emitModule, f32, i32, v128, type FuncDef } from "./encoder.js";

/**
 * WebAssembly SIMD kernels for the exp-bound activations and logSoftmax, four float32 lanes at a time:
 *  - `gelu_tanh(src, dst, n4)`: dst = x / (1 + e^(-2u)), u = c (x + 0.044715 x^3), the
 *    tanh-approximated GELU with one exp;
 *  - `gelu_tanh_grad(x, g, dst, n4)`: dst = g s (1 + x (1 - s) 2u'), s = 1 / (1 + e^(-2u)), with
 *    1 - s taken as e^(-2u) s so that it keeps its precision where s is near 1;
 *  - `silu` and `silu_grad`, the same with 2u replaced by x.
 * Addresses in bytes, n4 groups of four floats. exp is Cephes' expf (a degree-5 polynomial after
 * range reduction, about 1 ulp); below -87.33 it gives 0, and above 88 +Infinity (float32's e^x
 * overflows only past 88.72, but none of these formulas needs the values in between).
 */
const C = Math.sqrt(2 / Math.PI);
const A = 0.044715;

/** 1.5 x 2^23: adding it to |v| < 2^22 rounds v to an integer (half to even) in the low mantissa bits. */
const ROUNDER = 12582912;

/** The locals one exp works in: its argument `x`, its result `out`, and two scratch. */
export interface ExpLocals {
  readonly x: number;
  readonly out: number;
  readonly fx: number;
  readonly t: number;
}

/**
 * Emits exp of the f32x4 in local `x` into local `out`, using locals `fx` and `t` as scratch (`out`
 * too, until the end). fx = round(x log2 e) is taken by adding and subtracting ROUNDER, the same
 * value as f32x4.nearest, and 2^fx is built from the integer that leaves in the sum's low bits:
 * V8 on x86 spends eight instructions on i32x4.trunc_sat_f32x4_s (NaN and overflow lanes) and one
 * on nearest, where the sum and difference take two.
 */
export function exp4(f: Code, x: number, out: number, fx: number, t: number): void {
  expInterleaved(f, [{ x, out, fx, t }]);
}

/**
 * exp4 of several vectors, each step emitted for all of them before the next: one exp is a chain
 * of ~40 dependent operations, and the core overlaps independent chains only as far as its
 * scheduler sees, a loop's next iteration too late to fill the gaps (see inGroups for what it
 * gives). The clamps take pmin / pmax, one instruction each where f32x4.min / max's NaN and
 * signed-zero rules cost V8 six and lengthened the chain (GELU-tanh over [2048, 1024] 6.0 -> 4.1
 * ms from that alone); a NaN still passes through them to the result.
 */
export function expInterleaved(f: Code, vs: readonly ExpLocals[]): void {
  const each = (step: (v: ExpLocals) => void): void => vs.forEach(step);
  // clamp, then fx = round(x log2 e); out keeps ROUNDER + fx, whose low bits are fx
  each(({ x, t }) => f.localGet(x).f32x4Const(88).f32x4Pmin().f32x4Const(-87.33654475).f32x4Pmax().localSet(t));
  each(({ out, fx, t }) => {
    f.localGet(t).f32x4Const(Math.LOG2E).f32x4Mul().f32x4Const(ROUNDER).f32x4Add().localTee(out);
    f.f32x4Const(ROUNDER).f32x4Sub().localSet(fx);
  });
  // r = x - fx ln2 (ln2 split in two for precision), into t
  each(({ fx, t }) => {
    f.localGet(t).localGet(fx).f32x4Const(0.693359375).f32x4Mul().f32x4Sub();
    f.localGet(fx).f32x4Const(-2.1219444e-4).f32x4Mul().f32x4Sub().localSet(t);
  });
  // e^r = 1 + r + r^2 P(r), P by Horner's rule in fx (free once r is made)
  const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  each(({ fx, t }) => f.f32x4Const(P[0]!).localGet(t).f32x4Mul().f32x4Const(P[1]!).f32x4Add().localSet(fx));
  for (const p of P.slice(2)) each(({ fx, t }) => f.localGet(fx).localGet(t).f32x4Mul().f32x4Const(p).f32x4Add().localSet(fx));
  each(({ fx, t }) =>
    f.localGet(fx).localGet(t).localGet(t).f32x4Mul().f32x4Mul().localGet(t).f32x4Add().f32x4Const(1).f32x4Add().localSet(fx),
  );
  // times 2^fx, built in the exponent bits: (fx + 127) << 23, ROUNDER's own bits shifted out
  each(({ out, fx }) => f.localGet(fx).localGet(out).i32x4Const(127).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul().localSet(out));
  // below the range: 0 (this also takes -Infinity); above: +Infinity; NaN stays NaN throughout
  each(({ x, out }) => f.localGet(out).localGet(x).f32x4Const(-87.33654475).f32x4Lt().v128AndNot().localSet(out));
  each(({ x, out }) => f.f32x4Const(Infinity).localGet(out).localGet(x).f32x4Const(88).f32x4Gt().v128Bitselect().localSet(out));
}

/** 2u = 2c x (1 + a x^2) of local `x` onto the stack. */
function twoU(f: Code, x: number): void {
  f.localGet(x).localGet(x).f32x4Mul().f32x4Const(A).f32x4Mul().f32x4Const(1).f32x4Add();
  f.localGet(x)
    .f32x4Mul()
    .f32x4Const(2 * C)
    .f32x4Mul();
}

/** (2u)' = 2c (1 + 3a x^2) of local `x` onto the stack. */
function twoUPrime(f: Code, x: number): void {
  f.localGet(x)
    .localGet(x)
    .f32x4Mul()
    .f32x4Const(3 * A)
    .f32x4Mul()
    .f32x4Const(1)
    .f32x4Add()
    .f32x4Const(2 * C)
    .f32x4Mul();
}

/**
 * Both activations are x sigmoid(z): GELU-tanh with z = 2u, SiLU with z = x. `z` pushes z of local
 * `x`; `dz` pushes z'; `clamp` bounds x in the backward, past which f' is 0 or 1 to float32 and
 * e^(-z) would overflow.
 */
interface Gate {
  name: string;
  z(f: Code, x: number): void;
  dz: ((f: Code, x: number) => void) | null;
  clamp: number;
}
const GELU_TANH: Gate = { name: "gelu_tanh", z: twoU, dz: twoUPrime, clamp: 9 };
const SILU: Gate = { name: "silu", z: (f, x) => void f.localGet(x), dz: null, clamp: 80 };

/** Vectors an iteration of the exp loops takes: their exps side by side (see expInterleaved). */
export const WIDTH = 4;

/**
 * Emits `body(WIDTH)` while WIDTH vectors remain of local `n4`, then `body(1)` for each left: a
 * body reads and writes vector k at 16 k from its pointers, then moves them on by 16 width.
 * GELU-tanh over [2048, 1024] one vector an iteration 5.5 ms, two 3.3, three 2.8, four 2.75
 * (its backward 9.2, 4.4, 3.8, 3.7).
 */
export function inGroups(f: Code, n4: number, body: (width: number) => void): void {
  f.block().localGet(n4).i32Const(WIDTH).i32LtU().brIf(0);
  f.loop();
  body(WIDTH);
  f.localGet(n4).i32Const(WIDTH).i32Sub().localTee(n4).i32Const(WIDTH).i32GeU().brIf(0);
  f.end().end();
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  body(1);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
}

/** WIDTH sets of an exp's locals (argument, result, two scratch), from a FnBuilder. */
export function expLocals(b: { local(type: typeof v128): number }): ExpLocals[] {
  return Array.from({ length: WIDTH }, () => ({ x: b.local(v128), out: b.local(v128), fx: b.local(v128), t: b.local(v128) }));
}

/**
 * The softmax's middle pass: e = exp(x - shift) in place over local `n4` vectors from local `p`
 * (both moved on), each added in order to the f32x4 local `sum`; `shift` is an f32x4 local, `vs`
 * WIDTH sets of an exp's locals.
 */
export function expShiftInPlaceSum(f: Code, p: number, n4: number, shift: number, sum: number, vs: readonly ExpLocals[]): void {
  inGroups(f, n4, (count) => {
    const group = vs.slice(0, count);
    group.forEach(({ x }, k) =>
      f
        .localGet(p)
        .v128Load(16 * k)
        .localGet(shift)
        .f32x4Sub()
        .localSet(x),
    );
    expInterleaved(f, group);
    group.forEach(({ out }, k) => {
      f.localGet(p)
        .localGet(out)
        .v128Store(16 * k);
      f.localGet(sum).localGet(out).f32x4Add().localSet(sum);
    });
    advance(f, [p], 16 * count);
  });
}

/** Moves each of the i32 locals `pointers` on by `bytes`. */
function advance(f: Code, pointers: readonly number[], bytes: number): void {
  for (const p of pointers) f.localGet(p).i32Const(bytes).i32Add().localSet(p);
}

/** e^(-z) of each vector's local x into its local out, side by side (arg: -z, fx and t: scratch). */
function expMinusZ(f: Code, gate: Gate, vs: readonly (ExpLocals & { arg: number })[]): void {
  for (const { x, arg } of vs) {
    f.f32x4Const(0);
    gate.z(f, x);
    f.f32x4Sub().localSet(arg);
  }
  expInterleaved(
    f,
    vs.map(({ arg, out, fx, t }) => ({ x: arg, out, fx, t })),
  );
}

/** `name(src, dst, n4)`: x / (1 + e^(-z)), with no cancellation on either side; WIDTH vectors at a time. */
function gated(gate: Gate): FuncDef {
  const src = 0,
    dst = 1,
    n4 = 2;
  // per vector k of a group: x, e, fx, t, arg at 3 + 5 k
  const v = (k: number) => ({ x: 3 + 5 * k, out: 4 + 5 * k, fx: 5 + 5 * k, t: 6 + 5 * k, arg: 7 + 5 * k });
  const f = new Code();
  inGroups(f, n4, (width) => {
    const vs = Array.from({ length: width }, (_, k) => v(k));
    vs.forEach(({ x }, k) =>
      f
        .localGet(src)
        .v128Load(16 * k)
        .localSet(x),
    );
    expMinusZ(f, gate, vs);
    vs.forEach(({ x, out }, k) =>
      f
        .localGet(dst)
        .localGet(x)
        .localGet(out)
        .f32x4Const(1)
        .f32x4Add()
        .f32x4Div()
        .v128Store(16 * k),
    );
    advance(f, [src, dst], 16 * width);
  });
  return { name: gate.name, params: [i32, i32, i32], locals: Array(5 * WIDTH).fill(v128), body: f };
}

/** `name_grad(x, g, dst, n4)`: g s (1 + x (1 - s) z'), s = 1 / (1 + e^(-z)), 1 - s taken as e^(-z) s; WIDTH vectors at a time. */
function gatedGrad(gate: Gate): FuncDef {
  const xp = 0,
    gp = 1,
    dst = 2,
    n4 = 3;
  // per vector k of a group: x, e, fx, t, arg, s at 4 + 6 k
  const v = (k: number) => ({ x: 4 + 6 * k, out: 5 + 6 * k, fx: 6 + 6 * k, t: 7 + 6 * k, arg: 8 + 6 * k, s: 9 + 6 * k });
  const f = new Code();
  inGroups(f, n4, (width) => {
    const vs = Array.from({ length: width }, (_, k) => v(k));
    // pmin / pmax: one instruction each, NaN passing through (see expInterleaved)
    vs.forEach(({ x }, k) =>
      f
        .localGet(xp)
        .v128Load(16 * k)
        .f32x4Const(gate.clamp)
        .f32x4Pmin()
        .f32x4Const(-gate.clamp)
        .f32x4Pmax()
        .localSet(x),
    );
    expMinusZ(f, gate, vs);
    vs.forEach(({ out, s }) => f.f32x4Const(1).f32x4Const(1).localGet(out).f32x4Add().f32x4Div().localSet(s));
    vs.forEach(({ x, out, s }, k) => {
      f.localGet(dst);
      f.localGet(gp)
        .v128Load(16 * k)
        .localGet(s)
        .f32x4Mul();
      f.localGet(x).localGet(out).localGet(s).f32x4Mul().f32x4Mul();
      if (gate.dz) {
        gate.dz(f, x);
        f.f32x4Mul();
      }
      f.f32x4Const(1)
        .f32x4Add()
        .f32x4Mul()
        .v128Store(16 * k);
    });
    advance(f, [xp, gp, dst], 16 * width);
  });
  return { name: `${gate.name}_grad`, params: [i32, i32, i32, i32], locals: Array(6 * WIDTH).fill(v128), body: f };
}

/**
 * `exp_sum(src, n4, shift, out)`: the sum of e^(x - shift) over n4 groups of four, accumulated in
 * float64 (two f64x2 lanes pairs, stored as four doubles at out for the caller to add): the
 * softmax denominator. Pad a row with -Infinity, whose exp is 0.
 */
function expSum(): FuncDef {
  const src = 0,
    n4 = 1,
    shift = 2,
    out = 3;
  const sv = 4,
    a = 5,
    e = 6,
    fx = 7,
    t = 8,
    acc0 = 9,
    acc1 = 10;
  const f = new Code();
  f.localGet(shift).f32x4Splat().localSet(sv);
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  f.localGet(src).v128Load().localGet(sv).f32x4Sub().localSet(a);
  exp4(f, a, e, fx, t);
  f.localGet(acc0).localGet(e).f64x2PromoteLowF32x4().f64x2Add().localSet(acc0);
  f.localGet(acc1).localGet(e).localGet(e).f32x4Shuffle([2, 3, 0, 1]).f64x2PromoteLowF32x4().f64x2Add().localSet(acc1);
  f.localGet(src).i32Const(16).i32Add().localSet(src);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
  f.localGet(out).localGet(acc0).v128Store();
  f.localGet(out).localGet(acc1).v128Store(16);
  return { name: "exp_sum", params: [i32, i32, f32, i32], locals: [v128, v128, v128, v128, v128, v128, v128], body: f };
}

/** `exp_scale_sub(y, g, dst, n4, s)`: dst = g - e^y s, logSoftmax's backward for one row. */
function expScaleSub(): FuncDef {
  const yp = 0,
    gp = 1,
    dst = 2,
    n4 = 3,
    s = 4;
  const sv = 5,
    y = 6,
    e = 7,
    fx = 8,
    t = 9;
  const f = new Code();
  f.localGet(s).f32x4Splat().localSet(sv);
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  f.localGet(yp).v128Load().localSet(y);
  exp4(f, y, e, fx, t);
  f.localGet(dst).localGet(gp).v128Load().localGet(e).localGet(sv).f32x4Mul().f32x4Sub().v128Store();
  f.localGet(yp).i32Const(16).i32Add().localSet(yp);
  f.localGet(gp).i32Const(16).i32Add().localSet(gp);
  f.localGet(dst).i32Const(16).i32Add().localSet(dst);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
  return { name: "exp_scale_sub", params: [i32, i32, i32, i32, f32], locals: [v128, v128, v128, v128, v128], body: f };
}

export function activationFunctions(): FuncDef[] {
  return [gated(GELU_TANH), gatedGrad(GELU_TANH), gated(SILU), gatedGrad(SILU), expSum(), expScaleSub()];
}

export function activationModule(): Uint8Array {
  return emitModule(activationFunctions());
}
