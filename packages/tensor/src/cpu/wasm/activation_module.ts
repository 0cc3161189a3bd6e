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

/**
 * Emits exp of the f32x4 in local `x` into local `out`, using locals `fx` and `t` as scratch (`out`
 * too, until the end). fx = round(x log2 e) is taken by adding and subtracting ROUNDER, the same
 * value as f32x4.nearest, and 2^fx is built from the integer that leaves in the sum's low bits:
 * V8 on x86 spends eight instructions on i32x4.trunc_sat_f32x4_s (NaN and overflow lanes) and one
 * on nearest, where the sum and difference take two.
 */
export function exp4(f: Code, x: number, out: number, fx: number, t: number): void {
  // clamp, then fx = round(x log2 e); out keeps ROUNDER + fx, whose low bits are fx
  f.localGet(x).f32x4Const(88).f32x4Min().f32x4Const(-87.33654475).f32x4Max().localSet(t);
  f.localGet(t).f32x4Const(Math.LOG2E).f32x4Mul().f32x4Const(ROUNDER).f32x4Add().localTee(out);
  f.f32x4Const(ROUNDER).f32x4Sub().localSet(fx);
  // r = x - fx ln2 (ln2 split in two for precision)
  f.localGet(t).localGet(fx).f32x4Const(0.693359375).f32x4Mul().f32x4Sub();
  f.localGet(fx).f32x4Const(-2.1219444e-4).f32x4Mul().f32x4Sub().localSet(t);
  // e^r = 1 + r + r^2 P(r)
  const P = [1.98756915e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1];
  f.f32x4Const(P[0]!);
  for (const p of P.slice(1)) f.localGet(t).f32x4Mul().f32x4Const(p).f32x4Add();
  f.localGet(t).localGet(t).f32x4Mul().f32x4Mul().localGet(t).f32x4Add().f32x4Const(1).f32x4Add();
  // times 2^fx, built in the exponent bits: (fx + 127) << 23, ROUNDER's own bits shifted out
  f.localGet(out).i32x4Const(127).i32x4Add().i32Const(23).i32x4Shl().f32x4Mul();
  // below the range: 0 (this also takes -Infinity); above: +Infinity; NaN stays NaN throughout
  f.localGet(x).f32x4Const(-87.33654475).f32x4Lt().v128AndNot().localSet(out);
  f.f32x4Const(Infinity).localGet(out).localGet(x).f32x4Const(88).f32x4Gt().v128Bitselect().localSet(out);
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

/** `name(src, dst, n4)`: x / (1 + e^(-z)), with no cancellation on either side. */
function gated(gate: Gate): FuncDef {
  const src = 0,
    dst = 1,
    n4 = 2;
  const x = 3,
    e = 4,
    fx = 5,
    t = 6,
    arg = 7;
  const f = new Code();
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  f.localGet(src).v128Load().localSet(x);
  f.f32x4Const(0);
  gate.z(f, x);
  f.f32x4Sub().localSet(arg);
  exp4(f, arg, e, fx, t);
  f.localGet(dst).localGet(x).localGet(e).f32x4Const(1).f32x4Add().f32x4Div().v128Store();
  f.localGet(src).i32Const(16).i32Add().localSet(src);
  f.localGet(dst).i32Const(16).i32Add().localSet(dst);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
  return { name: gate.name, params: [i32, i32, i32], locals: [v128, v128, v128, v128, v128], body: f };
}

/** `name_grad(x, g, dst, n4)`: g s (1 + x (1 - s) z'), s = 1 / (1 + e^(-z)), 1 - s taken as e^(-z) s. */
function gatedGrad(gate: Gate): FuncDef {
  const xp = 0,
    gp = 1,
    dst = 2,
    n4 = 3;
  const x = 4,
    e = 5,
    fx = 6,
    t = 7,
    arg = 8,
    s = 9;
  const f = new Code();
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  f.localGet(xp).v128Load().f32x4Const(gate.clamp).f32x4Min().f32x4Const(-gate.clamp).f32x4Max().localSet(x);
  f.f32x4Const(0);
  gate.z(f, x);
  f.f32x4Sub().localSet(arg);
  exp4(f, arg, e, fx, t);
  f.f32x4Const(1).f32x4Const(1).localGet(e).f32x4Add().f32x4Div().localSet(s);
  f.localGet(dst);
  f.localGet(gp).v128Load().localGet(s).f32x4Mul();
  f.localGet(x).localGet(e).localGet(s).f32x4Mul().f32x4Mul();
  if (gate.dz) {
    gate.dz(f, x);
    f.f32x4Mul();
  }
  f.f32x4Const(1).f32x4Add().f32x4Mul().v128Store();
  f.localGet(xp).i32Const(16).i32Add().localSet(xp);
  f.localGet(gp).i32Const(16).i32Add().localSet(gp);
  f.localGet(dst).i32Const(16).i32Add().localSet(dst);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
  return { name: `${gate.name}_grad`, params: [i32, i32, i32, i32], locals: [v128, v128, v128, v128, v128, v128], body: f };
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
