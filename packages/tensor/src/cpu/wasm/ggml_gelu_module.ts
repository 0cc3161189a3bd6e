import { i32, v128, type FuncDef } from "./encoder.js";
import { StoredCode } from "./gemv_stored_module.js";

/**
 * ggml's CPU GELU in WebAssembly, bit for bit ggmlGelu (kernels/ggml_rounding.ts): x from 10 on,
 * +0 from -10 down, NaN as the canonical quiet NaN (0x7fc00000, what the JS gives for any NaN),
 * and in between the GELU table's entry for x rounded to float16 (to nearest, ties to even,
 * float16 subnormals included). The table (see resident/ggml_gelu.ts) is in the same memory:
 * 65536 entries indexed by the float16 bits, each a float16 (`f16`: 128 KiB) or its float32
 * (`f32`: 256 KiB).
 *
 * `name(src, dst, n, table)`: n floats at byte address src to dst; the SIMD variant takes whole
 * vectors, so it may read and write up to three floats past the end (every heap block has room).
 * The backend runs the SIMD one with the float32 table (ggml_rounding_module.ts), the fastest of
 * the four in benchmarks/ggml_gelu_kernels.ts, which times them all (the tests check them all).
 */
// biome-ignore format: the opcode methods are a table, one line each
class GeluCode extends StoredCode {
  i32GeS(): this { this.bytes.push(0x4e); return this; }
  i32x4ShrU(): this { return this.simdOp(0xad); }
  i32x4Sub(): this { return this.simdOp(0xb1); }
  i32x4MinU(): this { return this.simdOp(0xb7); }
  i32x4GeU(): this { return this.simdOp(0x40); }
  i32x4GtS(): this { return this.simdOp(0x3b); }
  f32x4Ge(): this { return this.simdOp(0x46); }
  f32x4Le(): this { return this.simdOp(0x45); }
}

export type GeluTable = "f16" | "f32";

/** The bits of 10.0f: |x| below it looks the table up. */
const TEN = 0x41200000;
/** The bits of 2^-14, float16's smallest normal. */
const HALF_NORMAL = 0x38800000;
/** float32's exponent bias less float16's, in float16's exponent field. */
const REBIAS = (127 - 15) << 10;

/**
 * Float16 bits of a magnitude below 10 (float32 bits `m`), stack -> stack: normals by adding 0xfff
 * plus the lowest kept bit (a carry rounds up into the exponent) and rebiasing; float16 subnormals
 * by adding 0.5, whose ulp (2^-24) is theirs, so the float add rounds to nearest even.
 */
function halfBitsScalar(f: GeluCode, m: number): void {
  f.localGet(m).i32Const(0xfff).i32Add().localGet(m).i32Const(13).i32ShrU().i32Const(1).i32And().i32Add();
  f.i32Const(13).i32ShrU().i32Const(REBIAS).i32Sub();
  f.localGet(m).f32ReinterpretI32().f32Const(0.5).f32Add().i32ReinterpretF32().i32Const(0x3f000000).i32Sub();
  f.localGet(m).i32Const(HALF_NORMAL).i32GeU().select();
}

/** The same on four lanes (local `m`, each below 10 already) into local `h`. */
function halfBitsSimd(f: GeluCode, m: number, h: number): void {
  f.localGet(m).i32x4Const(0xfff).i32x4Add().localGet(m).i32Const(13).i32x4ShrU().i32x4Const(1).v128And().i32x4Add();
  f.i32Const(13).i32x4ShrU().i32x4Const(REBIAS).i32x4Sub();
  f.localGet(m).f32x4Const(0.5).f32x4Add().i32x4Const(0x3f000000).i32x4Sub();
  f.localGet(m).i32x4Const(HALF_NORMAL).i32x4GeU().v128Bitselect().localSet(h);
}

function scalarGelu(name: string, table: GeluTable): FuncDef {
  const [src, dst, n, tab] = [0, 1, 2, 3];
  const [u, m, r] = [4, 5, 6];
  const f = new GeluCode();
  f.block().localGet(n).i32Eqz().brIf(0);
  f.loop();
  f.localGet(src).i32Load().localTee(u).i32Const(0x7fffffff).i32And().localSet(m);
  f.localGet(m).i32Const(TEN).i32LtU().if();
  f.localGet(tab);
  halfBitsScalar(f, m);
  f.localGet(u).i32Const(16).i32ShrU().i32Const(0x8000).i32And().i32Or();
  if (table === "f32") {
    f.i32Const(2).i32Shl().i32Add().i32Load().localSet(r);
  } else {
    f.i32Const(1).i32Shl().i32Add().i32Load16U().localSet(r);
    f.localGet(r)
      .i32Const(0x7fff)
      .i32And()
      .i32Const(13)
      .i32Shl()
      .f32ReinterpretI32()
      .f32Const(2 ** 112)
      .f32Mul();
    f.i32ReinterpretF32().localGet(r).i32Const(0x8000).i32And().i32Const(16).i32Shl().i32Or().localSet(r);
  }
  f.else();
  // NaN: the canonical NaN; from 10 up (+Infinity too): x; from -10 down: +0
  f.i32Const(0x7fc00000).localGet(u).i32Const(0).localGet(u).i32Const(0).i32GeS().select();
  f.localGet(m).i32Const(0x7f800000).i32GtU().select().localSet(r);
  f.end();
  f.localGet(dst).localGet(r).i32Store();
  f.localGet(src).i32Const(4).i32Add().localSet(src);
  f.localGet(dst).i32Const(4).i32Add().localSet(dst);
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
  return { name, params: [i32, i32, i32, i32], locals: [i32, i32, i32], body: f };
}

function simdGelu(name: string, table: GeluTable): FuncDef {
  const [src, dst, n, tab] = [0, 1, 2, 3];
  const [x, m, h, g, t] = [4, 5, 6, 7, 8];
  const f = new GeluCode();
  f.localGet(tab).i32x4Splat().localSet(t);
  f.block().localGet(n).i32Const(0).i32LeS().brIf(0);
  f.loop();
  f.localGet(src).v128Load().localTee(x).i32x4Const(0x7fffffff).v128And().localTee(m);
  // lanes past 10 (and NaN) look up the entry of 10, then are replaced below
  f.i32x4Const(TEN).i32x4MinU().localSet(h);
  halfBitsSimd(f, h, h);
  f.localGet(h).localGet(x).i32Const(16).i32x4ShrU().i32x4Const(0x8000).v128And().v128Or();
  f.i32Const(table === "f32" ? 2 : 1)
    .i32x4Shl()
    .localGet(t)
    .i32x4Add()
    .localSet(h);
  f.v128Const0();
  for (let lane = 0; lane < 4; lane++) {
    f.localSet(g).localGet(h).i32x4ExtractLane(lane).localGet(g);
    if (table === "f32") f.load32Lane(0, lane);
    else f.load16Lane(0, 2 * lane);
  }
  f.localSet(g);
  if (table === "f16") f.halfLanes(g);
  else f.localGet(g);
  // from 10 up: x; from -10 down: +0; NaN: the canonical NaN
  f.localSet(g).localGet(x).localGet(g).localGet(x).f32x4Const(10).f32x4Ge().v128Bitselect();
  f.localGet(x).f32x4Const(-10).f32x4Le().v128AndNot().localSet(g);
  f.i32x4Const(0x7fc00000).localGet(g).localGet(m).i32x4Const(0x7f800000).i32x4GtS().v128Bitselect().localSet(g);
  f.localGet(dst).localGet(g).v128Store();
  f.localGet(src).i32Const(16).i32Add().localSet(src);
  f.localGet(dst).i32Const(16).i32Add().localSet(dst);
  f.localGet(n).i32Const(4).i32Sub().localTee(n).i32Const(0).i32GtS().brIf(0);
  f.end().end();
  return { name, params: [i32, i32, i32, i32], locals: [v128, v128, v128, v128, v128], body: f };
}

/** The four kernels (name, table, SIMD): the benchmark times them all and the tests check them all. */
export const GGML_GELU_VARIANTS = [
  ["scalar_f32", "f32", false],
  ["scalar_f16", "f16", false],
  ["simd_f32", "f32", true],
  ["simd_f16", "f16", true],
] as const;

/** One GELU kernel: table of float16 or float32 entries, SIMD (whole vectors) or scalar. */
export function ggmlGeluFunction(name: string, table: GeluTable, simd: boolean): FuncDef {
  return simd ? simdGelu(name, table) : scalarGelu(name, table);
}
