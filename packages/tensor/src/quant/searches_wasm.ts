import { FnBuilder } from "../cpu/wasm/builder.js";
import { Code, emitModule, f32, i32, uleb, v128 } from "../cpu/wasm/encoder.js";
import { IQ4_VALUES } from "./iq4_values.js";

/**
 * The quantizers' searches in WebAssembly, each the JS one's in the same float32 steps, so the same
 * levels and scales bit for bit: `qkx2` (make_qkx2_quants: Q4_K, Q5_K and Q2_K's scale and min,
 * k_quants.ts's makeQkx2Quants), `qx` (make_qx_quants: Q6_K's scale) and `iq4` (IQ4_NL and IQ4_XS's
 * scale, iq4.ts's searchScale). Their sums are chains of float32 adds; JavaScript rounds each step
 * with Math.fround (a double operation and two conversions: about 4 ns an add here), a wasm
 * f32.add is one instruction, and these searches are nearly all of quantizing to those types. (A
 * double computed from float32 operands and rounded to float32 is the float32 operation's result
 * for +, -, x and /: 53 >= 2 x 24 + 2 bits, so the two agree.)
 *
 * One group a call, in a private memory: its n (<= 32) values at X, their weights at W; the levels
 * come back at L, the scale (and qkx2's negated min) at OUT.
 */
const X = 0;
const W = 128;
const L = 256;
const LAUX = 288;
const OUT = 320;
/** IQ4_VALUES as float32, for iq4's level search. */
const IQ4_TABLE = 384;
/** The most values a group may have (the memory layout's room). */
const MAX_VALUES = 32;

// biome-ignore format: the opcode methods are a table, one line each
class QuantCode extends Code {
  f32Neg(): this { this.bytes.push(0x8c); return this; }
  i32Store8(offset = 0): this { this.bytes.push(0x3a, 0, ...uleb(offset)); return this; }
  f32Le(): this { this.bytes.push(0x5f); return this; }
}

/** for (i = from; i < n; i++) body(): i and n i32 locals (n or a constant count). */
function forRange(f: QuantCode, i: number, from: number, n: number | { count: number }, body: () => void): void {
  f.i32Const(from).localSet(i);
  f.block().loop();
  f.localGet(i);
  if (typeof n === "number") f.localGet(n);
  else f.i32Const(n.count);
  f.i32GeU().brIf(1);
  body();
  f.localGet(i).i32Const(1).i32Add().localSet(i);
  f.br(0).end().end();
}

/** Pushes local i32 `i` times 4: the byte offset of the i-th f32 of an array. */
function offset4(f: QuantCode, i: number): void {
  f.localGet(i).i32Const(2).i32Shl();
}

/** The f32 on the stack as ggml's nearest_int (an i32): the magic-number add, then the low 23 bits. */
function nearestInt(f: QuantCode): void {
  f.f32Const(12582912).f32Add().i32ReinterpretF32().i32Const(0x007fffff).i32And().i32Const(0x00400000).i32Sub();
}

/** qkx2(n, nmax, rmin, rdelta, nstep, useMad): the search over the group at X / W. */
function qkx2(): ReturnType<FnBuilder["def"]> {
  const b = new FnBuilder("qkx2", new QuantCode());
  const f = b.f;
  const n = b.param(i32);
  const nmax = b.param(i32);
  const rmin = b.param(f32);
  const rdelta = b.param(f32);
  const nstep = b.param(i32);
  const useMad = b.param(i32);
  const i = b.local(i32);
  const is = b.local(i32);
  const l = b.local(i32);
  const min = b.local(f32);
  const max = b.local(f32);
  const sumW = b.local(f32);
  const sumX = b.local(f32);
  const xi = b.local(f32);
  const w = b.local(f32);
  const iscale = b.local(f32);
  const scale = b.local(f32);
  const bestError = b.local(f32);
  const sumL = b.local(f32);
  const sumL2 = b.local(f32);
  const sumXL = b.local(f32);
  const wl = b.local(f32);
  const D = b.local(f32);
  const thisScale = b.local(f32);
  const thisMin = b.local(f32);
  const e = b.local(f32);
  const diff = b.local(f32);
  const nmaxF = b.local(f32);

  const forEach = (from: number, body: () => void): void => forRange(f, i, from, n, body);
  const at4 = (): void => offset4(f, i);
  /** Pushes nearest_int(iscale * (x_i - min)) clamped to [0, nmax] (i32), as makeQkx2Quants' level. */
  const level = (): void => {
    at4();
    f.f32Load(X).localGet(min).f32Sub().localGet(iscale).f32Mul();
    nearestInt(f);
    f.localTee(l);
    f.i32Const(0).localGet(l).i32Const(0).i32GtS().select().localSet(l);
    f.localGet(l).localGet(nmax).localGet(l).localGet(nmax).i32LtS().select();
  };
  /** Pushes the weighted error of the levels at byte `levels` for scale and min locals `s`, `m`. */
  const error = (levels: number, s: number, m: number): void => {
    f.f32Const(0).localSet(e);
    forEach(0, () => {
      f.localGet(s).localGet(i).i32Load8U(levels).f32ConvertI32S().f32Mul().localGet(m).f32Add();
      at4();
      f.f32Load(X).f32Sub().localSet(diff);
      f.localGet(e);
      at4();
      f.f32Load(W);
      f.localGet(useMad).if();
      f.localGet(diff).f32Abs().localSet(diff);
      f.else();
      f.localGet(diff).localGet(diff).f32Mul().localSet(diff);
      f.end();
      f.localGet(diff).f32Mul().f32Add().localSet(e);
    });
    f.localGet(e);
  };

  f.localGet(nmax).f32ConvertI32S().localSet(nmaxF);
  f.i32Const(0).f32Load(X).localTee(min).localSet(max);
  f.i32Const(0).f32Load(W).localTee(sumW).i32Const(0).f32Load(X).f32Mul().localSet(sumX);
  forEach(1, () => {
    at4();
    f.f32Load(X).localSet(xi);
    f.localGet(xi).localGet(min).f32Lt().if().localGet(xi).localSet(min).end();
    f.localGet(xi).localGet(max).f32Gt().if().localGet(xi).localSet(max).end();
    at4();
    f.f32Load(W).localSet(w);
    f.localGet(sumW).localGet(w).f32Add().localSet(sumW);
    f.localGet(sumX).localGet(w).localGet(xi).f32Mul().f32Add().localSet(sumX);
  });
  f.localGet(min).f32Const(0).f32Gt().if().f32Const(0).localSet(min).end();
  f.localGet(max).localGet(min).f32Eq().if();
  forEach(0, () => {
    f.localGet(i).i32Const(0).i32Store8(L);
  });
  f.i32Const(OUT).f32Const(0).f32Store();
  f.i32Const(OUT).localGet(min).f32Neg().f32Store(4);
  f.return();
  f.end();
  // min moves to each better candidate's, and later steps start from it (as llama.cpp's do)
  f.localGet(nmaxF).localGet(max).localGet(min).f32Sub().f32Div().localSet(iscale);
  f.f32Const(1).localGet(iscale).f32Div().localSet(scale);
  forEach(0, () => {
    f.localGet(i);
    level();
    f.i32Store8(L);
  });
  error(L, scale, min);
  f.localSet(bestError);
  f.i32Const(0).localSet(is);
  f.block().loop();
  f.localGet(is).localGet(nstep).i32GtS().brIf(1);
  f.localGet(rdelta).localGet(is).f32ConvertI32S().f32Mul().localGet(rmin).f32Add().localGet(nmaxF).f32Add();
  f.localGet(max).localGet(min).f32Sub().f32Div().localSet(iscale);
  f.f32Const(0).localTee(sumL).localTee(sumL2).localSet(sumXL);
  forEach(0, () => {
    level();
    f.localSet(l);
    f.localGet(i).localGet(l).i32Store8(LAUX);
    at4();
    f.f32Load(W).localGet(l).f32ConvertI32S().f32Mul().localSet(wl);
    f.localGet(sumL).localGet(wl).f32Add().localSet(sumL);
    f.localGet(sumL2).localGet(wl).localGet(l).f32ConvertI32S().f32Mul().f32Add().localSet(sumL2);
    f.localGet(sumXL).localGet(wl);
    at4();
    f.f32Load(X).f32Mul().f32Add().localSet(sumXL);
  });
  f.localGet(sumW).localGet(sumL2).f32Mul().localGet(sumL).localGet(sumL).f32Mul().f32Sub().localTee(D);
  f.f32Const(0).f32Gt().if();
  f.localGet(sumW).localGet(sumXL).f32Mul().localGet(sumX).localGet(sumL).f32Mul().f32Sub().localGet(D).f32Div().localSet(thisScale);
  f.localGet(sumL2).localGet(sumX).f32Mul().localGet(sumL).localGet(sumXL).f32Mul().f32Sub().localGet(D).f32Div().localSet(thisMin);
  f.localGet(thisMin).f32Const(0).f32Gt().if();
  f.f32Const(0).localSet(thisMin);
  f.localGet(sumXL).localGet(sumL2).f32Div().localSet(thisScale);
  f.end();
  error(LAUX, thisScale, thisMin);
  f.localGet(bestError).f32Lt().if();
  forEach(0, () => {
    f.localGet(i).localGet(i).i32Load8U(LAUX).i32Store8(L);
  });
  f.localGet(e).localSet(bestError);
  f.localGet(thisScale).localSet(scale);
  f.localGet(thisMin).localSet(min);
  f.end();
  f.end();
  f.localGet(is).i32Const(1).i32Add().localSet(is);
  f.br(0).end().end();
  f.i32Const(OUT).localGet(scale).f32Store();
  f.i32Const(OUT).localGet(min).f32Neg().f32Store(4);
  return b.def();
}

/**
 * qx(n, nmax, max): make_qx_quants (rmse_type 1, no weights: Q6_K's search, makeQxQuants in
 * k_quants.ts) over the n values at X whose first largest magnitude is `max` (non-zero: the caller
 * has taken the all-zero group): levels 0..2 nmax - 1 at L, the scale at OUT.
 */
function qx(): ReturnType<FnBuilder["def"]> {
  const b = new FnBuilder("qx", new QuantCode());
  const f = b.f;
  const n = b.param(i32);
  const nmax = b.param(i32);
  const max = b.param(f32);
  const i = b.local(i32);
  const is = b.local(i32);
  const l = b.local(i32);
  const xi = b.local(f32);
  const w = b.local(f32);
  const iscale = b.local(f32);
  const scale = b.local(f32);
  const best = b.local(f32);
  const sumlx = b.local(f32);
  const suml2 = b.local(f32);
  const nmaxF = b.local(f32);

  const forEach = (body: () => void): void => forRange(f, i, 0, n, body);
  /** Pushes clamp(nearest_int(iscale * x_i), -nmax, nmax - 1) (i32). */
  const level = (): void => {
    offset4(f, i);
    f.f32Load(X).localGet(iscale).f32Mul();
    nearestInt(f);
    f.localSet(l);
    f.localGet(nmax).i32Const(-1).i32Mul().localGet(l).localGet(l).localGet(nmax).i32Const(-1).i32Mul().i32LtS().select().localSet(l);
    f.localGet(nmax).i32Const(1).i32Sub().localGet(l).localGet(l).localGet(nmax).i32Const(1).i32Sub().i32GtS().select();
  };
  /** The levels of iscale, plus nmax, into L. */
  const storeLevels = (): void => {
    forEach(() => {
      f.localGet(i);
      level();
      f.localGet(nmax).i32Add().i32Store8(L);
    });
  };
  /** sumlx and suml2 of iscale's levels, weighted by x^2. */
  const sums = (): void => {
    f.f32Const(0).localTee(sumlx).localSet(suml2);
    forEach(() => {
      offset4(f, i);
      f.f32Load(X).localTee(xi).localGet(xi).f32Mul().localSet(w);
      level();
      f.localSet(l);
      f.localGet(sumlx).localGet(w).localGet(xi).f32Mul().localGet(l).f32ConvertI32S().f32Mul().f32Add().localSet(sumlx);
      f.localGet(suml2).localGet(w).localGet(l).f32ConvertI32S().f32Mul().localGet(l).f32ConvertI32S().f32Mul().f32Add().localSet(suml2);
    });
  };

  f.localGet(nmax).f32ConvertI32S().localSet(nmaxF);
  f.localGet(nmaxF).f32Neg().localGet(max).f32Div().localSet(iscale);
  storeLevels();
  sums();
  f.f32Const(0).localSet(scale);
  f.localGet(suml2).f32Const(0).f32Ne().if().localGet(sumlx).localGet(suml2).f32Div().localSet(scale).end();
  f.localGet(scale).localGet(sumlx).f32Mul().localSet(best);
  f.i32Const(-9).localSet(is);
  f.block().loop();
  f.localGet(is).i32Const(9).i32GtS().brIf(1);
  f.localGet(is).if();
  f.f32Const(0.1).localGet(is).f32ConvertI32S().f32Mul().localGet(nmaxF).f32Add().f32Neg().localGet(max).f32Div().localSet(iscale);
  sums();
  f.localGet(suml2).f32Const(0).f32Gt();
  f.localGet(sumlx).localGet(sumlx).f32Mul().localGet(best).localGet(suml2).f32Mul().f32Gt();
  f.i32And().if();
  storeLevels();
  f.localGet(sumlx).localGet(suml2).f32Div().localTee(scale).localGet(sumlx).f32Mul().localSet(best);
  f.end();
  f.end();
  f.localGet(is).i32Const(1).i32Add().localSet(is);
  f.br(0).end().end();
  f.i32Const(OUT).localGet(scale).f32Store();
  return b.def();
}

/**
 * iq4(max, ntry): quantize_row_iq4_nl_impl's scale search over the 32 values at X (no importance
 * matrix: weights x^2), whose first largest magnitude is `max` (non-zero): the least-squares scale
 * over the levels of d = max / IQ4_VALUES[0], then of (itry + IQ4_VALUES[0]) / max for itry in
 * [-ntry, ntry], the best kept, at OUT (the iq4.ts search's, in the same float32 steps).
 */
function iq4(): ReturnType<FnBuilder["def"]> {
  const b = new FnBuilder("iq4", new QuantCode());
  const f = b.f;
  const max = b.param(f32);
  const ntry = b.param(i32);
  const j = b.local(i32);
  const itry = b.local(i32);
  const l = b.local(i32);
  const x = b.local(f32);
  const xj = b.local(f32);
  const wq = b.local(f32);
  const id = b.local(f32);
  const d = b.local(f32);
  const best = b.local(f32);
  const sumqx = b.local(f32);
  const sumq2 = b.local(f32);
  const v0 = b.local(f32);
  const above = b.local(v128);

  /** l = the nearest level's index of local x (iq4.ts's bestIndex: a tie to the upper one; NaN to 15). */
  const bestIndex = (): void => {
    f.localGet(x).localGet(v0).f32Le().if();
    f.i32Const(0).localSet(l);
    f.else();
    f.localGet(x)
      .i32Const(0)
      .f32Load(IQ4_TABLE + 60)
      .f32Lt()
      .i32Eqz()
      .if();
    f.i32Const(15).localSet(l);
    f.else();
    // hi = how many levels are at most x: 16 less how many exceed it (x is not NaN here); then the
    // nearer of levels hi - 1 and hi
    f.i32Const(0).v128Load(IQ4_TABLE).localGet(x).f32x4Splat().f32x4Gt();
    for (let k = 1; k < 4; k++)
      f.i32Const(0)
        .v128Load(IQ4_TABLE + 16 * k)
        .localGet(x)
        .f32x4Splat()
        .f32x4Gt()
        .i32x4Add();
    f.localSet(above);
    f.i32Const(16);
    for (let k = 0; k < 4; k++) f.localGet(above).i32x4ExtractLane(k).i32Add();
    f.localSet(l);
    f.localGet(l).i32Const(1).i32Sub().localGet(l);
    f.localGet(x)
      .localGet(l)
      .i32Const(2)
      .i32Shl()
      .f32Load(IQ4_TABLE - 4)
      .f32Sub();
    f.localGet(l).i32Const(2).i32Shl().f32Load(IQ4_TABLE).localGet(x).f32Sub();
    f.f32Lt().select().localSet(l);
    f.end();
    f.end();
  };
  /** sumqx and sumq2 of the levels id gives (weights x^2). */
  const sums = (): void => {
    f.f32Const(0).localTee(sumqx).localSet(sumq2);
    forRange(f, j, 0, { count: 32 }, () => {
      offset4(f, j);
      f.f32Load(X).localTee(xj).localGet(id).f32Mul().localSet(x);
      bestIndex();
      // w q = (x_j^2) q, then (w q) x_j and (w q) q
      f.localGet(xj).localGet(xj).f32Mul();
      offset4(f, l);
      f.f32Load(IQ4_TABLE).localTee(x).f32Mul().localSet(wq);
      f.localGet(sumqx).localGet(wq).localGet(xj).f32Mul().f32Add().localSet(sumqx);
      f.localGet(sumq2).localGet(wq).localGet(x).f32Mul().f32Add().localSet(sumq2);
    });
  };

  f.i32Const(0).f32Load(IQ4_TABLE).localSet(v0);
  f.f32Const(1).localGet(max).f32Neg().localGet(v0).f32Div().f32Div().localSet(id);
  sums();
  f.f32Const(0).localSet(d);
  f.localGet(sumq2).f32Const(0).f32Gt().if().localGet(sumqx).localGet(sumq2).f32Div().localSet(d).end();
  f.localGet(d).localGet(sumqx).f32Mul().localSet(best);
  f.i32Const(0).localGet(ntry).i32Sub().localSet(itry);
  f.block().loop();
  f.localGet(itry).localGet(ntry).i32GtS().brIf(1);
  f.localGet(itry).f32ConvertI32S().localGet(v0).f32Add().localGet(max).f32Div().localSet(id);
  sums();
  f.localGet(sumq2).f32Const(0).f32Gt();
  f.localGet(sumqx).localGet(sumqx).f32Mul().localGet(best).localGet(sumq2).f32Mul().f32Gt();
  f.i32And().if();
  f.localGet(sumqx).localGet(sumq2).f32Div().localTee(d).localGet(sumqx).f32Mul().localSet(best);
  f.end();
  f.localGet(itry).i32Const(1).i32Add().localSet(itry);
  f.br(0).end().end();
  f.i32Const(OUT).localGet(d).f32Store();
  return b.def();
}

interface SearchKernels {
  qkx2: (n: number, nmax: number, rmin: number, rdelta: number, nstep: number, useMad: number) => void;
  qx: (n: number, nmax: number, max: number) => void;
  iq4: (max: number, ntry: number) => void;
  f32: Float32Array;
  u8: Uint8Array;
}

/** The slice of the WebAssembly JS API used here (the compile target's lib declares none). */
interface WasmApi {
  Memory: new (descriptor: { initial: number }) => { readonly buffer: ArrayBuffer };
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

let instance: SearchKernels | null | undefined;

/** The compiled searches, or null where WebAssembly is not available (callers take the JS ones). */
export function searchKernels(): SearchKernels | null {
  if (instance !== undefined) return instance;
  instance = null;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (!api) return instance;
  try {
    const memory = new api.Memory({ initial: 1 });
    const module = new api.Module(emitModule([qkx2(), qx(), iq4()]));
    const exports = new api.Instance(module, { env: { memory } }).exports;
    const f32View = new Float32Array(memory.buffer);
    f32View.set(IQ4_VALUES, IQ4_TABLE / 4);
    instance = {
      qkx2: exports.qkx2 as SearchKernels["qkx2"],
      qx: exports.qx as SearchKernels["qx"],
      iq4: exports.iq4 as SearchKernels["iq4"],
      f32: f32View,
      u8: new Uint8Array(memory.buffer),
    };
  } catch {
    instance = null;
  }
  return instance;
}

/**
 * makeQkx2Quants' search (k_quants.ts) over x[xo, xo + n) with its weights (weights[0, n)): the
 * levels into L[lo..], returns [scale, -min]; null where the searches did not compile (or n is
 * past the layout's room): the caller runs the JS search.
 */
export function qkx2Search(
  n: number,
  nmax: number,
  x: Float32Array,
  xo: number,
  weights: Float32Array,
  levels: Uint8Array,
  lo: number,
  rmin: number,
  rdelta: number,
  nstep: number,
  useMad: boolean,
): [number, number] | null {
  const k = n <= MAX_VALUES ? searchKernels() : null;
  if (k === null) return null;
  k.f32.set(x.subarray(xo, xo + n), X / 4);
  k.f32.set(weights.subarray(0, n), W / 4);
  k.qkx2(n, nmax, rmin, rdelta, nstep, useMad ? 1 : 0);
  levels.set(k.u8.subarray(L, L + n), lo);
  return [k.f32[OUT / 4]!, k.f32[OUT / 4 + 1]!];
}

/** makeQxQuants' search over x[xo, xo + n), whose first largest magnitude is max (non-zero): levels into L[lo..], returns the scale; null as qkx2Search. */
export function qxSearch(n: number, nmax: number, x: Float32Array, xo: number, max: number, levels: Uint8Array, lo: number): number | null {
  const k = n <= MAX_VALUES ? searchKernels() : null;
  if (k === null) return null;
  k.f32.set(x.subarray(xo, xo + n), X / 4);
  k.qx(n, nmax, max);
  levels.set(k.u8.subarray(L, L + n), lo);
  return k.f32[OUT / 4]!;
}

/** iq4.ts's searchScale over the 32 values at x[xo..] (first largest magnitude max, non-zero): the scale; null as qkx2Search. */
export function iq4Search(x: Float32Array, xo: number, max: number, ntry: number): number | null {
  const k = searchKernels();
  if (k === null) return null;
  k.f32.set(x.subarray(xo, xo + 32), X / 4);
  k.iq4(max, ntry);
  return k.f32[OUT / 4]!;
}
