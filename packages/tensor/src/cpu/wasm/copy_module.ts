import { bump, countdown, FnBuilder } from "./builder.js";
import { i32, v128, type FuncDef } from "./encoder.js";
import { halfLanes, Int8Code } from "./gemv_q8_resident_module.js";

/**
 * Strided copies between views in wasm memory, the JS copies' values bit for bit. Each takes
 * `(src, dst, n, o2, s2, d2, o1, s1, d1, ...)`: o1 x o2 runs of n elements, runs s2 / d2 bytes
 * apart, groups of o2 runs s1 / d1 apart (any sign). A view's copy coalesced to three levels
 * (heads split or merged, a KV cache's positions, a slice's padded gradient) is one call, where
 * the JS loop over the heap's shared memory took 2-4 ns an element.
 *  - `copy_words(..., sIn, dIn)`: 4-byte elements (float32, int32) moved as they are, sIn / dIn
 *    bytes apart within a run; runs contiguous on both sides four elements a vector.
 *  - `encode_f16`: float32 rounded into float16 as float32ToFloat16Bits does, runs contiguous on
 *    both sides and n a multiple of four (a KV cache's float32 step written into its float16
 *    buffers): to nearest even; float16 normals by adding 0xfff plus the lowest kept bit (a carry
 *    past 65504 gives infinity), subnormals as nearest-even(|x| 2^24), NaN as 0x7e00 with the top
 *    mantissa bits, each lane's sign put back; packed two vectors to eight halves.
 *  - `decode_f16`: float16 widened as float16BitsToFloat32 does, the same runs (the buffers widened
 *    for a prompt's attention): halfLanes (normals rebased, subnormals as integer times 2^-24,
 *    infinities kept), no float32 subnormal arithmetic; every NaN becomes float32's canonical
 *    0x7fc00000, as the JS converter's table holds it.
 */
// biome-ignore format: the opcode methods are a table, one line each
class CopyCode extends Int8Code {
  i32x4ShrU(): this { return this.simdOp(0xad); }
  i32x4GtS(): this { return this.simdOp(0x3b); }
  i32x4MinS(): this { return this.simdOp(0xb6); }
  i16x8NarrowI32x4U(): this { return this.simdOp(0x86); }
  v128Store64Lane(lane: number, offset = 0): this { return this.simdOp(0x5b, 3, ...this.at(offset).slice(1), lane); }
}

/** The loops over o1 x o2 runs (parameters 0-8, see the header); `run(ps, pd)` copies one run from byte address ps to pd. */
function runs(b: FnBuilder<CopyCode>, run: (ps: number, pd: number) => void): void {
  const f = b.f;
  const [src, dst, , o2, s2, d2, o1, s1, d1] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const [qs, qd, c2, ps, pd] = [b.local(i32), b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  countdown(f, o1, () => {
    f.localGet(src).localSet(qs).localGet(dst).localSet(qd).localGet(o2).localSet(c2);
    countdown(f, c2, () => {
      f.localGet(qs).localSet(ps).localGet(qd).localSet(pd);
      run(ps, pd);
      bump(f, qs, { local: s2 });
      bump(f, qd, { local: d2 });
    });
    bump(f, src, { local: s1 });
    bump(f, dst, { local: d1 });
  });
}

/** Declares the nine parameters runs() reads, and `extra` more after them. */
function params(b: FnBuilder<CopyCode>, extra = 0): void {
  for (let i = 0; i < 9 + extra; i++) b.param(i32);
}

function copyWords(): FuncDef {
  const b = new FnBuilder("copy_words", new CopyCode());
  const f = b.f;
  params(b, 2);
  const [n, sIn, dIn] = [2, 9, 10];
  const j = b.local(i32);
  runs(b, (ps, pd) => {
    f.localGet(sIn).i32Const(4).i32Eq().localGet(dIn).i32Const(4).i32Eq().i32And().if();
    f.localGet(n).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(pd).localGet(ps).v128Load().v128Store();
      bump(f, ps, 16);
      bump(f, pd, 16);
    });
    f.localGet(n).i32Const(3).i32And().localSet(j);
    f.else();
    f.localGet(n).localSet(j);
    f.end();
    countdown(f, j, () => {
      f.localGet(pd).localGet(ps).i32Load().i32Store();
      bump(f, ps, { local: sIn });
      bump(f, pd, { local: dIn });
    });
  });
  return b.def();
}

/** The float16 bits of the four float32 lanes of local x (as i32 lanes), onto the stack. */
function encodeLanes(f: CopyCode, x: number, a: number, t: number): void {
  f.localGet(x).i32x4Const(0x7fffffff).v128And().localSet(a);
  // normal (|x| from 2^-14): rounded, rebased; past 65504 (a carry included) infinity
  f.localGet(a).i32x4Const(0xfff).i32x4Add().localGet(a).i32Const(13).i32x4ShrU().i32x4Const(1).v128And().i32x4Add();
  f.i32Const(13)
    .i32x4ShrU()
    .i32x4Const(112 << 10)
    .i32x4Sub()
    .i32x4Const(0x7c00)
    .i32x4MinS();
  // subnormal: nearest-even(|x| 2^24), 0 to 1024 (1024 is the smallest normal's bits)
  f.localGet(a)
    .f32x4Const(2 ** 24)
    .f32x4Mul()
    .f32x4Nearest()
    .i32x4TruncSatF32x4S();
  f.localGet(a).i32x4Const(0x38800000).i32x4GeS().v128Bitselect().localSet(t);
  // infinity and NaN (0x7e00 and the top mantissa bits)
  f.localGet(a).i32Const(13).i32x4ShrU().i32x4Const(0x3ff).v128And().i32x4Const(0x7e00).v128Or();
  f.i32x4Const(0x7c00).localGet(a).i32x4Const(0x7f800000).i32x4GtS().v128Bitselect();
  f.localGet(t).localGet(a).i32x4Const(0x7f800000).i32x4GeS().v128Bitselect();
  // the sign
  f.localGet(x).i32Const(16).i32x4ShrU().i32x4Const(0x8000).v128And().v128Or();
}

function encodeF16(): FuncDef {
  const b = new FnBuilder("encode_f16", new CopyCode());
  const f = b.f;
  params(b);
  const n = 2;
  const [j, x, y, a, t] = [b.local(i32), b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  runs(b, (ps, pd) => {
    f.localGet(n).i32Const(3).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(ps).v128Load().localSet(x);
      encodeLanes(f, x, a, t);
      f.localSet(y);
      f.localGet(ps).v128Load(16).localSet(x);
      f.localGet(pd).localGet(y);
      encodeLanes(f, x, a, t);
      f.i16x8NarrowI32x4U().v128Store();
      bump(f, ps, 32);
      bump(f, pd, 16);
    });
    f.localGet(n).i32Const(4).i32And().if();
    f.localGet(ps).v128Load().localSet(x);
    f.localGet(pd);
    encodeLanes(f, x, a, t);
    f.localGet(x).i16x8NarrowI32x4U().v128Store64Lane(0);
    f.end();
  });
  return b.def();
}

function decodeF16(): FuncDef {
  const b = new FnBuilder("decode_f16", new CopyCode());
  const f = b.f;
  params(b);
  const n = 2;
  const [j, h, m, v] = [b.local(i32), b.local(v128), b.local(v128), b.local(v128)];
  runs(b, (ps, pd) => {
    f.localGet(n).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(ps).load16x4U();
      halfLanes(f, h, m);
      f.localSet(v);
      // a NaN as the JS converter gives it (float32's canonical NaN), whatever its payload and sign
      f.localGet(pd).i32x4Const(0x7fc00000).localGet(v).localGet(m).i32x4Const(0x7c00).i32x4GtS().v128Bitselect();
      f.v128Store();
      bump(f, ps, 8);
      bump(f, pd, 16);
    });
  });
  return b.def();
}

export function copyFunctions(): FuncDef[] {
  return [copyWords(), encodeF16(), decodeF16()];
}
