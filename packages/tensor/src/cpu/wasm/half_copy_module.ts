import { bump, countdown, FnBuilder } from "./builder.js";
import { i32, v128, type FuncDef } from "./encoder.js";
import { halfLanes, Int8Code } from "./gemv_q8_resident_module.js";

/**
 * float32 <-> float16 copies between strided views in wasm memory, the values of the JS converters
 * (float32ToFloat16Bits, float16BitsToFloat32) bit for bit: a KV cache's float32 step written into
 * its float16 buffers, and the buffers widened for a prompt's attention. Both take
 * `(src, dst, n, o2, s2, d2, o1, s1, d1)`: o1 x o2 runs of n elements, contiguous on both sides and
 * n a multiple of four, runs s2 / d2 bytes apart, groups of o2 runs s1 / d1 apart (any sign).
 *  - `encode_f16`: round to nearest even; float16 normals by adding 0xfff plus the lowest kept bit
 *    (a carry past 65504 gives infinity), subnormals as nearest-even(|x| 2^24), NaN as 0x7e00 with
 *    the top mantissa bits, each lane's sign put back; packed two vectors to eight halves.
 *  - `decode_f16`: halfLanes (normals rebased, subnormals as integer times 2^-24, infinities
 *    kept), no float32 subnormal arithmetic; every NaN becomes float32's canonical 0x7fc00000, as
 *    the JS converter's table holds it.
 */
// biome-ignore format: the opcode methods are a table, one line each
class HalfCopyCode extends Int8Code {
  i32x4ShrU(): this { return this.simdOp(0xad); }
  i32x4GtS(): this { return this.simdOp(0x3b); }
  i32x4MinS(): this { return this.simdOp(0xb6); }
  i16x8NarrowI32x4U(): this { return this.simdOp(0x86); }
  v128Store64Lane(lane: number, offset = 0): this { return this.simdOp(0x5b, 3, ...this.at(offset).slice(1), lane); }
}

/** The loops over o1 x o2 runs; `run(ps, pd)` copies one run from byte address ps to pd. */
function runs(b: FnBuilder<HalfCopyCode>, run: (ps: number, pd: number) => void): void {
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

function params(b: FnBuilder<HalfCopyCode>): void {
  for (let i = 0; i < 9; i++) b.param(i32);
}

/** The float16 bits of the four float32 lanes of local x (as i32 lanes), onto the stack. */
function encodeLanes(f: HalfCopyCode, x: number, a: number, t: number): void {
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
  const b = new FnBuilder("encode_f16", new HalfCopyCode());
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
  const b = new FnBuilder("decode_f16", new HalfCopyCode());
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

export function halfCopyFunctions(): FuncDef[] {
  return [encodeF16(), decodeF16()];
}
