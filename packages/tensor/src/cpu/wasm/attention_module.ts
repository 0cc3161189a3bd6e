import { expLocals, expShiftInPlaceSum } from "./activation_module.js";
import { bump, countdown, FnBuilder, horizontalSum, mulAdd } from "./builder.js";
import { f32, i32, v128, type Code, type FuncDef } from "./encoder.js";
import { halfLanesFast } from "./gemv_stored_module.js";
import { RoundingCode, roundHalfLanes } from "./ggml_rounding_module.js";

/**
 * Fused attention over query rows, on q, k and v where they live in wasm memory (and
 * `attention_f16`, the same over float16 k and v: see attention(fma, half) below):
 * `attention(desc, r0, r1, scores)` computes the rows [r0, r1) of the flattened [B, H, T] queries
 * (so threads take contiguous row ranges): scores against every key (q . k * scale + bias, masked
 * to -Infinity), softmax (exp on the SIMD polynomial, sum in float32 lanes), then the rows of v
 * weighted by the probabilities. A row whose keys are all masked gives zeros. `scores` is scratch
 * for S floats (rounded up to 4). Grouped-query heads read kv head h / G. Masked keys cost
 * nothing: no dot product, and keys of weight 0 add no row of v (so a v row of Infinity or NaN at
 * a masked key does not reach the output).
 *
 * `desc` holds the layout as i32 words (byte addresses and byte strides), see DESC below; mask
 * and bias addresses of 0 mean none; roundHalf 1 asks for ggml's rounding over a float16 cache
 * (attention_f16; the block kernel's forward rounds the weights: attention_blocks_module.ts). q, k
 * and v must be contiguous along D; out is [B, H, T, D] contiguous. Each row is computed the same
 * way whoever computes it.
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
  "roundHalf",
] as const;
const field = (name: (typeof DESC)[number]): number => DESC.indexOf(name) * 4;

/**
 * Readers of the DESC words at local `desc`: `load` pushes one, `plus` adds local `times` x one to
 * the i32 on the stack (an address and a stride).
 */
export function descReader(f: Code, desc: number) {
  const load = (name: (typeof DESC)[number]): Code => f.localGet(desc).i32Load(field(name));
  const plus = (name: (typeof DESC)[number], times: number): void => {
    f.localGet(times);
    load(name);
    f.i32Mul().i32Add();
  };
  /** Locals `kp`, `vp` to the rows of key/value head `hk` (a local) of batch `bi` (a local). */
  const kvRows = (bi: number, hk: number, kp: number, vp: number): void => {
    load("k");
    plus("kb", bi);
    plus("kh", hk);
    f.localSet(kp);
    load("v");
    plus("vb", bi);
    plus("vh", hk);
    f.localSet(vp);
  };
  return { load, plus, kvRows };
}

/** Local `r`, a flat index over [B, N, T], split: t = r % T, n = (r / T) % N, b = r / T / N (`bn` gets r / T). */
export function splitIndex(f: Code, l: { r: number; T: number; N: number; t: number; bn: number; n: number; b: number }): void {
  f.localGet(l.r).localGet(l.T).i32RemU().localSet(l.t);
  f.localGet(l.r).localGet(l.T).i32DivU().localSet(l.bn);
  f.localGet(l.bn).localGet(l.N).i32RemU().localSet(l.n);
  f.localGet(l.bn).localGet(l.N).i32DivU().localSet(l.b);
}

/** The opcodes the float16 paths add (the group kernel's too: attention_group_module.ts). */
// biome-ignore format: the opcode methods are a table, one line each
export class HalfCode extends RoundingCode {
  i32ShrS(): this { this.bytes.push(0x75); return this; }
  i16x8ShrS(): this { return this.simdOp(0x8c); }
  v128AnyTrue(): this { return this.simdOp(0x53); }
  i16x8MaxU(): this { return this.simdOp(0x99); }
  i16x8GeU(): this { return this.simdOp(0x36); }
  i16x8Const(value: number): this { return this.bytesConst(new Array<number>(8).fill(0).flatMap(() => [value & 0xff, (value >> 8) & 0xff])); }
}

/** i8x16.shuffle of two vectors of halves: the low (or high) four 16-bit lanes of the second on top of the first's. */
export const LOW_HALVES = [0, 1, 16, 17, 2, 3, 18, 19, 4, 5, 20, 21, 6, 7, 22, 23];
export const HIGH_HALVES = [8, 9, 24, 25, 10, 11, 26, 27, 12, 13, 28, 29, 14, 15, 30, 31];
/** float16's exponent field, and float32's, in an i32 holding half << 16. */
const HALF_EXPONENT = 0x7c000000;
const FLOAT_EXPONENT = 0x7f800000;
/** Sign, exponent and mantissa of a half << 16 shifted right 3 (arithmetically): float32 bits of value * 2^-112. */
const HALF_AS_FLOAT = 0x8fffe000 | 0;

/**
 * The float32 value of the one half at the address on stack (local `h`: scratch i32), as
 * halfLanesFast (gemv_stored_module.ts) gives four: its fields shifted into a float32's (value x
 * 2^-112, subnormals too), times 2^112, an all-ones exponent set instead.
 */
function halfValue(f: HalfCode, h: number): void {
  f.i32Load16U().i32Const(16).i32Shl().localTee(h);
  f.i32Const(3)
    .i32ShrS()
    .i32Const(HALF_AS_FLOAT)
    .i32And()
    .f32ReinterpretI32()
    .f32Const(2 ** 112)
    .f32Mul()
    .i32ReinterpretF32();
  f.i32Const(FLOAT_EXPONENT).i32Const(0);
  f.localGet(h).i32Const(HALF_EXPONENT).i32And().i32Const(HALF_EXPONENT).i32Eq().select();
  f.i32Or().f32ReinterpretI32();
}

/**
 * Sets local `into` to whether key `s` is masked out: the mask's byte at local `mp` + s x the
 * stride `ms` pushes is 0 (no mask, mp 0: never). Both attention kernels' score loops start so.
 */
export function maskedKey(f: Code, l: { mp: number; s: number; into: number }, ms: () => void): void {
  f.i32Const(0).localSet(l.into);
  f.localGet(l.mp).if();
  f.localGet(l.mp).localGet(l.s);
  ms();
  f.i32Mul().i32Add().i32Load8U().i32Eqz().localSet(l.into);
  f.end();
}

/**
 * `attention` (half false) or `attention_f16` (half true: k and v float16, q, out and the
 * scores float32). Each half is widened to its float32 value exactly and then takes the float32
 * kernel's operations in the float32 kernel's order, so attention over float16 keys and values is
 * the float32 kernel's over their float32 values, bit for bit, at half the bytes read. With DESC's
 * roundHalf set (ggml's numerics: llama.cpp's products with its float16 cache) attention_f16 first
 * rounds the query to float16 (into the scratch after the scores) and each weight e / sum too.
 */
function attention(fma: boolean, half: boolean): FuncDef {
  const b = new FnBuilder(half ? "attention_f16" : "attention", new HalfCode());
  const f = b.f;
  /** Bytes of one element of k and v. */
  const kvBytes = half ? 2 : 4;
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
  const sum = b.local(v128);
  const exps = expLocals(b);
  const pv = b.local(v128);
  const masked = b.local(i32);
  // the halves' scratch: eight of them, four widened, one scalar
  const hv = b.local(v128);
  const w = b.local(v128);
  const hs = b.local(i32);
  // the fast path's: eight halves' float32 fields split in two (see scaledEight), whether any was infinite or NaN
  const lo = b.local(v128);
  const hi = b.local(v128);
  const special = b.local(v128);
  const pv2 = b.local(v128);
  const p2 = b.local(i32);
  // ggml's rounding (see roundHalf in DESC): where the rounded query goes, and roundHalfLanes' scratch
  const roundHalf = b.local(i32);
  const qs = b.local(i32);
  const rm = b.local(v128);
  const rt = b.local(v128);

  /**
   * The fast path's eight halves at `p`: into `lo` and `hi` the two 16-bit halves of each one's
   * float32 bits of value x 2^-112 (as halfLanesFast's shift, done on 16-bit lanes before the
   * widening: the low three mantissa bits up 13, the rest down 3 with the sign kept), and into
   * `special` the largest of their bits shifted up one (the sign dropped): from 0xf800 on, one had
   * float16's exponent of all ones (infinity, NaN: these the fast path gets wrong, and the caller
   * then redoes the row exactly; see anySpecial).
   */
  const scaledEight = (p: number): void => {
    f.localGet(p).v128Load().localTee(hv);
    noteSpecials();
    f.localGet(hv).i32Const(13).i16x8Shl().localSet(lo);
    f.localGet(hv).i32Const(3).i16x8ShrS().i16x8Const(0x8fff).v128And().localSet(hi);
  };
  /** Folds the eight halves on the stack into `special` (see scaledEight). */
  const noteSpecials = (): void => {
    f.i32Const(1).i16x8Shl().localGet(special).i16x8MaxU().localSet(special);
  };
  /** Pushes whether `special` saw an infinity or NaN (see scaledEight). */
  const anySpecial = (): void => {
    f.localGet(special).i16x8Const(0xf800).i16x8GeU().v128AnyTrue();
  };
  /** Pushes the float32 bits of value x 2^-112 of the low (off 0) or high (off 16) four of scaledEight's halves. */
  const scaledFour = (off: number): void => {
    f.localGet(lo)
      .localGet(hi)
      .shuffle(off === 0 ? LOW_HALVES : HIGH_HALVES);
  };

  /** Pushes four values of k or v at `p`: floats, or the low (high) four of the eight halves in `hv`. */
  const fourOfEight = (p: number, off: number): void => {
    if (!half) {
      f.localGet(p).v128Load(off);
      return;
    }
    f.localGet(hv);
    if (off === 0) f.i32x4ExtendLowI16x8U();
    else f.i32x4ExtendHighI16x8U();
    halfLanesFast(f, w);
  };
  /** Pushes the four values of k or v at `p`. */
  const four = (p: number): void => {
    if (!half) {
      f.localGet(p).v128Load();
      return;
    }
    f.localGet(p).load16x4U();
    halfLanesFast(f, w);
  };
  /** Pushes the one value of k or v at `p`. */
  const one = (p: number): void => {
    f.localGet(p);
    if (half) halfValue(f, hs);
    else f.f32Load();
  };

  const { load, plus, kvRows } = descReader(f, desc);

  /** Pushes q . k (D floats at pa and pb): two vector sums over whole groups of 8, one more vector, their lanes, then the tail in order. */
  const dot = (exact = true): void => {
    f.v128Const0().localSet(acc).v128Const0().localSet(acc2);
    f.localGet(D).i32Const(3).i32ShrU().localSet(j);
    countdown(f, j, () => {
      if (half && exact) f.localGet(pb).v128Load().localSet(hv);
      if (half && !exact) scaledEight(pb);
      for (const [off, a] of [
        [0, acc],
        [16, acc2],
      ] as const) {
        const key = (): void => {
          if (!half || exact) {
            fourOfEight(pb, off);
            return;
          }
          scaledFour(off);
          f.f32x4Const(2 ** 112).f32x4Mul();
        };
        mulAdd(
          f,
          fma,
          () => f.localGet(pa).v128Load(off),
          key,
          () => f.localGet(a),
        );
        f.localSet(a);
      }
      bump(f, pa, 32);
      bump(f, pb, 8 * kvBytes);
    });
    f.localGet(D).i32Const(4).i32And().if();
    mulAdd(
      f,
      fma,
      () => f.localGet(pa).v128Load(),
      () => four(pb),
      () => f.localGet(acc),
    );
    f.localSet(acc);
    bump(f, pa, 16);
    bump(f, pb, 4 * kvBytes);
    f.end();
    f.localGet(acc).localGet(acc2).f32x4Add().localSet(acc);
    horizontalSum(f, acc);
    f.localSet(x);
    f.localGet(D).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(x).localGet(pa).f32Load();
      one(pb);
      f.f32Mul().f32Add().localSet(x);
      bump(f, pa, 4);
      bump(f, pb, kvBytes);
    });
    f.localGet(x);
  };

  load("S").localSet(S);
  load("D").localSet(D);
  if (half) {
    load("roundHalf").localSet(roundHalf);
    // the rounded query's room: after the S scores and their padding to whole vectors
    f.localGet(scores).localGet(S).i32Const(7).i32Add().i32Const(-4).i32And().i32Const(4).i32Mul().i32Add().localSet(qs);
  }
  load("T").localSet(T);
  load("H").localSet(H);
  f.localGet(r0).localSet(r);
  f.block().loop();
  f.localGet(r).localGet(r1).i32GeU().brIf(1);
  // which query: r = (b H + h) T + t
  splitIndex(f, { r, T, N: H, t, bn: bh, n: h, b: bi });
  f.localGet(h);
  load("G");
  f.i32DivU().localSet(hk);
  load("q");
  plus("qb", bi);
  plus("qh", h);
  plus("qt", t);
  f.localSet(qp);
  if (half) {
    // ggml's numerics: the query rounded to float16 first (into the scratch after the scores)
    f.localGet(roundHalf).if();
    f.localGet(qp).localSet(pa);
    f.localGet(qs).localSet(pb);
    f.localGet(D).localSet(j);
    countdown(f, j, () => {
      f.localGet(pa).f32Load().f32x4Splat().localSet(vec);
      roundHalfLanes(f, vec, rm, rt);
      f.localGet(pb).localGet(vec).f32x4ExtractLane(0).f32Store();
      bump(f, pa, 4);
      bump(f, pb, 4);
    });
    f.localGet(qs).localSet(qp);
    f.end();
  }
  kvRows(bi, hk, kp, vp);
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
  maskedKey(f, { mp, s, into: masked }, () => load("ms"));
  f.localGet(masked).if();
  f.f32Const(-Infinity).localSet(x);
  f.else();
  const keyPointers = (): void => {
    f.localGet(qp).localSet(pa);
    f.localGet(kp).localGet(s);
    load("ks");
    f.i32Mul().i32Add().localSet(pb);
  };
  keyPointers();
  if (half) {
    // the fast path, then, where the key held an infinity or NaN, the exact one
    f.v128Const0().localSet(special);
    dot(false);
    f.localSet(x);
    anySpecial();
    f.if();
    keyPointers();
    dot(true);
    f.localSet(x);
    f.end();
    f.localGet(x);
  } else {
    dot();
  }
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
  f.localGet(max).f32x4Splat().localSet(vec);
  expShiftInPlaceSum(f, sp, j, vec, sum, exps);
  f.f32Const(1);
  horizontalSum(f, sum);
  f.f32Div().localSet(inv);
  if (half) {
    // ggml's numerics: each weight e * inv rounded to float16, in place, four at a time; the loop
    // below then takes them as they are (times 1)
    f.localGet(roundHalf).if();
    f.localGet(scores).localSet(sp);
    f.localGet(S).i32Const(3).i32Add().i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(sp).v128Load().localGet(inv).f32x4Splat().f32x4Mul().localSet(vec);
      roundHalfLanes(f, vec, rm, rt);
      f.localGet(sp).localGet(vec).v128Store();
      bump(f, sp, 16);
    });
    f.f32Const(1).localSet(inv);
    f.end();
  }
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
    if (half) {
      // eight halves a load, then four, then one at a time: each value as the float32 loop below
      // takes it. Rows of finite halves take the fast path: the weight x 2^112 (exact: weights are
      // at most 1) times each value x 2^-112 is the same product
      f.v128Const0().localSet(special);
      f.localGet(bp).localSet(p2);
      f.localGet(D).i32Const(3).i32ShrU().localSet(j);
      countdown(f, j, () => {
        f.localGet(p2).v128Load();
        noteSpecials();
        bump(f, p2, 16);
      });
      f.localGet(x)
        .f32Const(2 ** 112)
        .f32Mul()
        .f32x4Splat()
        .localSet(pv2);
      f.localGet(D).i32Const(3).i32ShrU().localSet(j);
      /** out (at pa) += `weight` x the row at bp, eight halves a load (`eight`), four a vector (`four`). */
      const weightedEights = (weight: number, eight: () => void, four: (off: number) => void): void =>
        countdown(f, j, () => {
          eight();
          for (const off of [0, 16]) {
            f.localGet(pa);
            mulAdd(
              f,
              fma,
              () => f.localGet(weight),
              () => four(off),
              () => f.localGet(pa).v128Load(off),
            );
            f.v128Store(off);
          }
          bump(f, pa, 32);
          bump(f, bp, 16);
        });
      anySpecial();
      f.if();
      weightedEights(
        pv,
        () => f.localGet(bp).v128Load().localSet(hv),
        (off) => fourOfEight(bp, off),
      );
      f.else();
      weightedEights(pv2, () => scaledEight(bp), scaledFour);
      f.end();
      f.localGet(D).i32Const(4).i32And().if();
      f.localGet(pa);
      mulAdd(
        f,
        fma,
        () => f.localGet(pv),
        () => four(bp),
        () => f.localGet(pa).v128Load(),
      );
      f.v128Store();
      bump(f, pa, 16);
      bump(f, bp, 8);
      f.end();
    } else {
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
    }
    f.localGet(D).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(pa).localGet(pa).f32Load().localGet(x);
      one(bp);
      f.f32Mul().f32Add().f32Store();
      bump(f, pa, 4);
      bump(f, bp, kvBytes);
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
  return [attention(fma, false), attention(fma, true)];
}
