import { f32, i32, v128, type FuncDef } from "./encoder.js";
import { StoredCode } from "./gemv_stored_module.js";
import { ggmlGeluFunction } from "./ggml_gelu_module.js";

/**
 * Activations rounded as llama.cpp rounds them before a matmul over a stored weight (see
 * kernels/ggml_rounding.ts, whose values these are bit for bit), in WebAssembly for the resident
 * kernels. Each function reads float32 at src and writes the rounded float32 at dst (which may be
 * src), addresses in bytes:
 *  - `round_f16(src, dst, n4)`, `round_bf16(src, dst, n4)`: n4 groups of four values, each to
 *    the nearest float16 / bfloat16 (ties to even; NaN kept as NaN);
 *  - `round_q8_0(src, dst, nb)`: nb blocks of 32 values as ggml-cpu's quantize_row_q8_0 rounds
 *    them (d = amax / 127 stored as float16, q = nearest-even(x * 127 / amax)), dequantized: q * d;
 *  - `ggml_gelu(src, dst, n, table)`: ggml's GELU from its float16 table (ggml_gelu_module.ts).
 */
// biome-ignore format: the opcode methods are a table, one line each
export class RoundingCode extends StoredCode {
  i32x4GtS(): this { return this.simdOp(0x3b); }
  i32x4GeS(): this { return this.simdOp(0x3f); }
  i32x4ShrU(): this { return this.simdOp(0xad); }
}

/**
 * Replaces the float32 lanes of local `x` by their nearest float16 (as float32), exactly as
 * float32ToFloat16Bits then back: normals by adding 0xfff plus the lowest kept bit and clearing
 * 13 bits (a carry past 65504 gives infinity), float16 subnormals as nearest-even(|x| * 2^24) *
 * 2^-24, NaN kept; the sign put back. `m` and `t` are v128 scratch locals.
 */
export function roundHalfLanes(f: RoundingCode, x: number, m: number, t: number): void {
  f.localGet(x).i32x4Const(0x7fffffff).v128And().localSet(m);
  // normal: (m + 0xfff + ((m >> 13) & 1)) & ~0x1fff, infinity from 65536 up
  f.localGet(m).i32x4Const(0xfff).i32x4Add().localGet(m).i32Const(13).i32x4ShrU().i32x4Const(1).v128And().i32x4Add();
  f.i32x4Const(~0x1fff).v128And().localSet(t);
  f.i32x4Const(0x7f800000).localGet(t).localGet(t).i32x4Const(0x47800000).i32x4GeS().v128Bitselect().localSet(t);
  // subnormal (|x| under 2^-14): nearest-even multiple of 2^-24
  f.localGet(t);
  f.localGet(m)
    .f32x4Const(2 ** 24)
    .f32x4Mul()
    .f32x4Nearest()
    .f32x4Const(2 ** -24)
    .f32x4Mul();
  f.localGet(m).i32x4Const(0x38800000).i32x4GeS().v128Bitselect().localSet(t);
  // NaN kept, sign back
  f.localGet(m).localGet(t).localGet(m).i32x4Const(0x7f800000).i32x4GtS().v128Bitselect();
  f.localGet(x)
    .i32x4Const(0x80000000 | 0)
    .v128And()
    .v128Or()
    .localSet(x);
}

function roundHalves(kind: "f16" | "bf16"): FuncDef {
  const [src, dst, n4] = [0, 1, 2];
  const [x, m, t] = [3, 4, 5];
  const f = new RoundingCode();
  f.block().localGet(n4).i32Eqz().brIf(0);
  f.loop();
  f.localGet(src).v128Load().localSet(x);
  if (kind === "f16") {
    roundHalfLanes(f, x, m, t);
  } else {
    // (x + 0x7fff + ((x >> 16) & 1)) & 0xffff0000 (a carry rolls into the exponent), NaN kept
    f.localGet(x).i32x4Const(0x7fff).i32x4Add().localGet(x).i32Const(16).i32x4ShrU().i32x4Const(1).v128And().i32x4Add();
    f.i32x4Const(0xffff0000 | 0)
      .v128And()
      .localSet(t);
    f.localGet(x).localGet(t).localGet(x).i32x4Const(0x7fffffff).v128And().i32x4Const(0x7f800000).i32x4GtS().v128Bitselect().localSet(x);
  }
  f.localGet(dst).localGet(x).v128Store();
  f.localGet(src).i32Const(16).i32Add().localSet(src);
  f.localGet(dst).i32Const(16).i32Add().localSet(dst);
  f.localGet(n4).i32Const(1).i32Sub().localTee(n4).brIf(0);
  f.end().end();
  return { name: `round_${kind}`, params: [i32, i32, i32], locals: [v128, v128, v128], body: f };
}

function roundQ8(): FuncDef {
  const [src, dst, nb] = [0, 1, 2];
  const [amax, id, scale, x, m, t] = [3, 4, 5, 6, 7, 8];
  const f = new RoundingCode();
  f.block().localGet(nb).i32Eqz().brIf(0);
  f.loop();
  // amax over the block's 32 values
  f.localGet(src).v128Load().f32x4Abs();
  for (let v = 1; v < 8; v++)
    f.localGet(src)
      .v128Load(16 * v)
      .f32x4Abs()
      .f32x4Max();
  f.localSet(x);
  f.localGet(x).f32x4ExtractLane(0).localGet(x).f32x4ExtractLane(1).f32Max();
  f.localGet(x).f32x4ExtractLane(2).localGet(x).f32x4ExtractLane(3).f32Max();
  f.f32Max().localSet(amax);
  // id = 127 / amax (0 for an all-zero block); d = amax / 127 rounded to float16
  f.f32Const(0).f32Const(127).localGet(amax).f32Div().localGet(amax).f32Const(0).f32Eq().select().f32x4Splat().localSet(id);
  f.localGet(amax).f32Const(127).f32Div().f32x4Splat().localSet(scale);
  roundHalfLanes(f, scale, m, t);
  for (let v = 0; v < 8; v++) {
    f.localGet(dst);
    f.localGet(src)
      .v128Load(16 * v)
      .localGet(id)
      .f32x4Mul()
      .f32x4Nearest()
      .localGet(scale)
      .f32x4Mul()
      .v128Store(16 * v);
  }
  f.localGet(src).i32Const(128).i32Add().localSet(src);
  f.localGet(dst).i32Const(128).i32Add().localSet(dst);
  f.localGet(nb).i32Const(1).i32Sub().localTee(nb).brIf(0);
  f.end().end();
  return { name: "round_q8_0", params: [i32, i32, i32], locals: [f32, v128, v128, v128, v128, v128], body: f };
}

export function ggmlRoundingFunctions(_fma: boolean): FuncDef[] {
  return [roundHalves("f16"), roundHalves("bf16"), roundQ8(), ggmlGeluFunction("ggml_gelu", "f32", true)];
}
