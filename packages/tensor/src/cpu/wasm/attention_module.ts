import { exp4 } from "./activation_module.js";
import { bump, countdown, FnBuilder, horizontalSum, mulAdd } from "./builder.js";
import { f32, i32, v128, type Code, type FuncDef } from "./encoder.js";

/**
 * Fused attention over query rows, on q, k and v where they live in wasm memory:
 * `attention(desc, r0, r1, scores)` computes the rows [r0, r1) of the flattened [B, H, T] queries
 * (so threads take contiguous row ranges): scores against every key (q . k * scale + bias, masked
 * to -Infinity), softmax (exp on the SIMD polynomial, sum in float32 lanes), then the rows of v
 * weighted by the probabilities. A row whose keys are all masked gives zeros. `scores` is scratch
 * for S floats (rounded up to 4). Grouped-query heads read kv head h / G. Masked keys cost
 * nothing: no dot product, and keys of weight 0 add no row of v (so a v row of Infinity or NaN at
 * a masked key does not reach the output).
 *
 * `desc` holds the layout as i32 words (byte addresses and byte strides), see DESC below; mask
 * and bias addresses of 0 mean none. q, k and v must be contiguous along D; out is [B, H, T, D]
 * contiguous. Each row is computed the same way whoever computes it.
 */
export const DESC = [
  "q",
  "qb",
  "qh",
  "qt",
  "k",
  "kb",
  "kh",
  "ks",
  "v",
  "vb",
  "vh",
  "vs",
  "out",
  "mask",
  "mb",
  "mh",
  "mt",
  "ms",
  "bias",
  "bb",
  "bh",
  "bt",
  "bs",
  "H",
  "G",
  "T",
  "S",
  "D",
  "scale",
] as const;
const field = (name: (typeof DESC)[number]): number => DESC.indexOf(name) * 4;

function attention(fma: boolean): FuncDef {
  const b = new FnBuilder("attention");
  const f = b.f;
  const desc = b.param(i32);
  const r0 = b.param(i32);
  const r1 = b.param(i32);
  const scores = b.param(i32);
  const r = b.local(i32);
  const t = b.local(i32);
  const bh = b.local(i32);
  const h = b.local(i32);
  const bi = b.local(i32);
  const hk = b.local(i32);
  const qp = b.local(i32);
  const kp = b.local(i32);
  const vp = b.local(i32);
  const op = b.local(i32);
  const mp = b.local(i32);
  const bp = b.local(i32);
  const sp = b.local(i32);
  const s = b.local(i32);
  const j = b.local(i32);
  const pa = b.local(i32);
  const pb = b.local(i32);
  const S = b.local(i32);
  const D = b.local(i32);
  const T = b.local(i32);
  const H = b.local(i32);
  const x = b.local(f32);
  const max = b.local(f32);
  const inv = b.local(f32);
  const acc = b.local(v128);
  const acc2 = b.local(v128);
  const vec = b.local(v128);
  const e = b.local(v128);
  const fx = b.local(v128);
  const tmp = b.local(v128);
  const sum = b.local(v128);
  const pv = b.local(v128);
  const masked = b.local(i32);

  const load = (name: (typeof DESC)[number]): Code => f.localGet(desc).i32Load(field(name));
  const plus = (name: (typeof DESC)[number], times: number): void => {
    f.localGet(times);
    load(name);
    f.i32Mul().i32Add();
  };

  /** Pushes q . k (D floats at pa and pb): two vector sums over whole groups of 8, one more vector, their lanes, then the tail in order. */
  const dot = (): void => {
    f.v128Const0().localSet(acc).v128Const0().localSet(acc2);
    f.localGet(D).i32Const(3).i32ShrU().localSet(j);
    countdown(f, j, () => {
      for (const [off, a] of [
        [0, acc],
        [16, acc2],
      ] as const) {
        mulAdd(
          f,
          fma,
          () => f.localGet(pa).v128Load(off),
          () => f.localGet(pb).v128Load(off),
          () => f.localGet(a),
        );
        f.localSet(a);
      }
      bump(f, pa, 32);
      bump(f, pb, 32);
    });
    f.localGet(D).i32Const(4).i32And().if();
    mulAdd(
      f,
      fma,
      () => f.localGet(pa).v128Load(),
      () => f.localGet(pb).v128Load(),
      () => f.localGet(acc),
    );
    f.localSet(acc);
    bump(f, pa, 16);
    bump(f, pb, 16);
    f.end();
    f.localGet(acc).localGet(acc2).f32x4Add().localSet(acc);
    horizontalSum(f, acc);
    f.localSet(x);
    f.localGet(D).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(x).localGet(pa).f32Load().localGet(pb).f32Load().f32Mul().f32Add().localSet(x);
      bump(f, pa, 4);
      bump(f, pb, 4);
    });
    f.localGet(x);
  };

  load("S").localSet(S);
  load("D").localSet(D);
  load("T").localSet(T);
  load("H").localSet(H);
  f.localGet(r0).localSet(r);
  f.block().loop();
  f.localGet(r).localGet(r1).i32GeU().brIf(1);
  // which query: r = (b H + h) T + t
  f.localGet(r).localGet(T).i32RemU().localSet(t);
  f.localGet(r).localGet(T).i32DivU().localSet(bh);
  f.localGet(bh).localGet(H).i32RemU().localSet(h);
  f.localGet(bh).localGet(H).i32DivU().localSet(bi);
  f.localGet(h);
  load("G");
  f.i32DivU().localSet(hk);
  load("q");
  plus("qb", bi);
  plus("qh", h);
  plus("qt", t);
  f.localSet(qp);
  load("k");
  plus("kb", bi);
  plus("kh", hk);
  f.localSet(kp);
  load("v");
  plus("vb", bi);
  plus("vh", hk);
  f.localSet(vp);
  load("out");
  f.localGet(r).localGet(D).i32Mul().i32Const(4).i32Mul().i32Add().localSet(op);
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

  // scores and their max
  f.f32Const(-Infinity).localSet(max);
  f.localGet(scores).localSet(sp);
  f.i32Const(0).localSet(s);
  f.block().loop();
  f.localGet(s).localGet(S).i32GeU().brIf(1);
  // a masked key scores -Infinity whatever q . k is: its dot product is skipped (half the keys of a causal row)
  f.i32Const(0).localSet(masked);
  f.localGet(mp).if();
  f.localGet(mp).localGet(s);
  load("ms");
  f.i32Mul().i32Add().i32Load8U().i32Eqz().localSet(masked);
  f.end();
  f.localGet(masked).if();
  f.f32Const(-Infinity).localSet(x);
  f.else();
  f.localGet(qp).localSet(pa);
  f.localGet(kp).localGet(s);
  load("ks");
  f.i32Mul().i32Add().localSet(pb);
  dot();
  f.localGet(desc).f32Load(field("scale")).f32Mul().localSet(x);
  f.localGet(bp).if();
  f.localGet(x).localGet(bp).localGet(s);
  load("bs");
  f.i32Mul().i32Add().f32Load().f32Add().localSet(x);
  f.end();
  f.end();
  f.localGet(sp).localGet(x).f32Store();
  // max = x > max ? x : max (a NaN score leaves the max alone, as the JS loop does)
  f.localGet(x).localGet(max).localGet(x).localGet(max).f32Gt().select().localSet(max);
  bump(f, sp, 4);
  bump(f, s, 1);
  f.br(0).end().end();

  f.localGet(max).f32Const(-Infinity).f32Eq().if();
  // every key masked: a row of zeros
  f.localGet(op).localSet(pa).localGet(D).localSet(j);
  countdown(f, j, () => {
    f.localGet(pa).f32Const(0).f32Store();
    bump(f, pa, 4);
  });
  f.else();
  // pad to whole vectors with -Infinity (exp 0), then e = exp(x - max) in place, summed
  f.localGet(S).i32Const(3).i32And().if();
  f.localGet(S).i32Const(3).i32And().i32Const(4).i32Sub().localSet(j); // -(4 - S % 4)
  f.block().loop();
  f.localGet(j).i32Eqz().brIf(1);
  f.localGet(sp).f32Const(-Infinity).f32Store();
  bump(f, sp, 4);
  bump(f, j, 1);
  f.br(0).end().end();
  f.end();
  f.v128Const0().localSet(sum);
  f.localGet(scores).localSet(sp);
  f.localGet(S).i32Const(3).i32Add().i32Const(2).i32ShrU().localSet(j);
  countdown(f, j, () => {
    f.localGet(sp).v128Load().localGet(max).f32x4Splat().f32x4Sub().localSet(vec);
    exp4(f, vec, e, fx, tmp);
    f.localGet(sp).localGet(e).v128Store();
    f.localGet(sum).localGet(e).f32x4Add().localSet(sum);
    bump(f, sp, 16);
  });
  f.f32Const(1);
  horizontalSum(f, sum);
  f.f32Div().localSet(inv);
  // out = sum over keys of (e * inv) v
  f.localGet(op).localSet(pa).localGet(D).localSet(j);
  countdown(f, j, () => {
    f.localGet(pa).f32Const(0).f32Store();
    bump(f, pa, 4);
  });
  f.localGet(scores).localSet(sp);
  f.localGet(vp).localSet(pb);
  f.localGet(S).localSet(s);
  countdown(f, s, () => {
    f.localGet(sp).f32Load().localGet(inv).f32Mul().localSet(x);
    // a key of weight 0 (masked, or exp underflowed) adds nothing: skipped
    f.localGet(x).f32Const(0).f32Ne().if();
    f.localGet(x).f32x4Splat().localSet(pv);
    f.localGet(op).localSet(pa);
    f.localGet(pb).localSet(bp); // (bias pointer no longer needed: reused as the v row cursor)
    f.localGet(D).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(pa);
      mulAdd(
        f,
        fma,
        () => f.localGet(pv),
        () => f.localGet(bp).v128Load(),
        () => f.localGet(pa).v128Load(),
      );
      f.v128Store();
      bump(f, pa, 16);
      bump(f, bp, 16);
    });
    f.localGet(D).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(pa).localGet(pa).f32Load().localGet(x).localGet(bp).f32Load().f32Mul().f32Add().f32Store();
      bump(f, pa, 4);
      bump(f, bp, 4);
    });
    f.end();
    bump(f, sp, 4);
    f.localGet(pb);
    load("vs");
    f.i32Add().localSet(pb);
  });
  f.end();
  bump(f, r, 1);
  f.br(0).end().end();
  return b.def();
}

export function attentionFunctions(fma: boolean): FuncDef[] {
  return [attention(fma)];
}
