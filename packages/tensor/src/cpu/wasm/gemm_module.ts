import { Code, emitModule, i32, v128, type FuncDef, type ValType } from "./encoder.js";
import { transpose } from "./transpose_module.js";

/**
 * The WASM SIMD GEMM kernel. Operands sit in wasm memory in any layout where, per step p of k,
 * a row's A value is a float and NR consecutive columns of B are consecutive floats; the strides
 * (in bytes) say where the next one is, so packed panels and plain row copies both work:
 *   A row r, step p: a + r*aRow + p*aStep      B columns 0..NR, step p: b + p*bStep
 *
 * `kernel(a, b, c, kc, ldc, accumulate, aStep, aRow, bStep)`: C[MR x NR] at byte address c (row
 *   stride ldc bytes) (+)= A[MR x kc] B[kc x NR], the tile held in MR * NR/4 f32x4 locals.
 * `block(a, b, c, mp, np, kc, ldc, accumulate, aStep, aRow, aPanel, bStep, bPanel)`: the kernel
 *   over mp row panels (aPanel bytes apart) x np column panels (bPanel bytes apart), the B panel
 *   outer so it stays in L1 while A streams from L2; one call per cache block, so the JS-to-WASM
 *   call is paid once per block, not per tile.
 * `transpose(...)`: packs B from column lines, see transpose_module.ts.
 */
export interface GemmShape {
  /** Rows of the micro-tile. */
  MR: number;
  /** Columns of the micro-tile, a multiple of 4 (one f32x4 per 4 columns). */
  NR: number;
}

/**
 * 2 x 16: 8 accumulators + 4 vectors of B + 2 splats of A + one product fill exactly the 15 xmm
 * registers V8 gives WASM on x64, so nothing spills (checked with --print-wasm-code). Measured on
 * the kernel alone, ahead of 4 x 8 (~40 vs ~50 GFLOP/s) and far ahead of tiles that spill (5 x 8,
 * 3 x 16, 4 x 12: 20-25). The K loop is not unrolled: with two steps per iteration TurboFan hoists
 * the second step's loads and spills (~28).
 */
export const gemmShape: GemmShape = { MR: 2, NR: 16 };

/**
 * Functions: 0 the MR-row kernel, 1 its block, 2 transpose, then a one-row kernel (3) and its block
 * (4, exported as `row`) for single-row products (decoding), where MR rows would compute padding.
 */
export function gemmModule({ MR, NR }: GemmShape): Uint8Array {
  return emitModule([kernel(MR, NR), block(MR, NR, 0, "block"), transpose(NR), kernel(1, NR), block(1, NR, 3, "row")]);
}

/** The MR x NR micro-kernel; `fma` accumulates with relaxed SIMD's fused multiply-add. */
export function kernel(MR: number, NR: number, fma = false): FuncDef {
  const NV = NR / 4;
  // params
  const a = 0,
    b = 1,
    c = 2,
    kc = 3,
    ldc = 4,
    accumulate = 5,
    aStep = 6,
    aRow = 7,
    bStep = 8;
  // locals: MR*NV accumulators, NV B vectors, one A splat, then i32: a C row pointer, A row pointers
  const acc = (r: number, v: number): number => 9 + r * NV + v;
  const bv = (v: number): number => 9 + MR * NV + v;
  const av = 9 + MR * NV + NV;
  const crow = av + 1;
  const arow = (r: number): number => (r === 0 ? a : crow + r); // row 0 uses the a parameter
  const locals: ValType[] = [...new Array<ValType>(MR * NV + NV + 1).fill(v128), ...new Array<ValType>(MR).fill(i32)];

  const f = new Code();
  const nextRow = (): void => void f.localGet(crow).localGet(ldc).i32Add().localSet(crow);
  // accumulators start from C (a later K block) or from zero
  f.localGet(accumulate).if();
  f.localGet(c).localSet(crow);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++)
      f.localGet(crow)
        .v128Load(v * 16)
        .localSet(acc(r, v));
    nextRow();
  }
  f.else();
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) f.v128Const0().localSet(acc(r, v));
  f.end();
  for (let r = 1; r < MR; r++)
    f.localGet(arow(r - 1))
      .localGet(aRow)
      .i32Add()
      .localSet(arow(r));

  // K loop: acc[r][v] += splat(A[r][p]) * B[p][4v .. 4v+4]
  f.loop();
  for (let v = 0; v < NV; v++)
    f.localGet(b)
      .v128Load(v * 16)
      .localSet(bv(v));
  for (let r = 0; r < MR; r++) {
    f.localGet(arow(r)).v128Load32Splat().localSet(av);
    for (let v = 0; v < NV; v++) {
      if (fma) f.localGet(av).localGet(bv(v)).localGet(acc(r, v)).f32x4RelaxedMadd().localSet(acc(r, v));
      else f.localGet(acc(r, v)).localGet(av).localGet(bv(v)).f32x4Mul().f32x4Add().localSet(acc(r, v));
    }
  }
  for (let r = 0; r < MR; r++) f.localGet(arow(r)).localGet(aStep).i32Add().localSet(arow(r));
  f.localGet(b).localGet(bStep).i32Add().localSet(b);
  f.localGet(kc).i32Const(1).i32Sub().localTee(kc).brIf(0);
  f.end();

  f.localGet(c).localSet(crow);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++)
      f.localGet(crow)
        .localGet(acc(r, v))
        .v128Store(v * 16);
    nextRow();
  }
  return { name: `kernel${MR}x${NR}${fma ? "_fma" : ""}`, params: new Array<ValType>(9).fill(i32), locals, body: f };
}

function block(MR: number, NR: number, kernelIndex: number, name: string): FuncDef {
  // params
  const a = 0,
    b = 1,
    c = 2,
    mp = 3,
    np = 4,
    kc = 5,
    ldc = 6,
    accumulate = 7;
  const aStep = 8,
    aRow = 9,
    aPanel = 10,
    bStep = 11,
    bPanel = 12;
  // locals: panel counters, the moving A and C pointers, bytes per MR rows of C
  const ir = 13,
    jr = 14,
    pa = 15,
    pc = 16,
    sc = 17;
  const f = new Code();
  f.localGet(ldc).i32Const(MR).i32Mul().localSet(sc);
  f.localGet(np).localSet(jr);
  f.loop(); // over B panels
  f.localGet(a).localSet(pa).localGet(c).localSet(pc).localGet(mp).localSet(ir);
  f.loop(); // over A panels
  f.localGet(pa).localGet(b).localGet(pc).localGet(kc).localGet(ldc).localGet(accumulate);
  f.localGet(aStep).localGet(aRow).localGet(bStep).call(kernelIndex);
  f.localGet(pa).localGet(aPanel).i32Add().localSet(pa);
  f.localGet(pc).localGet(sc).i32Add().localSet(pc);
  f.localGet(ir).i32Const(1).i32Sub().localTee(ir).brIf(0);
  f.end();
  f.localGet(b).localGet(bPanel).i32Add().localSet(b);
  f.localGet(c)
    .i32Const(NR * 4)
    .i32Add()
    .localSet(c);
  f.localGet(jr).i32Const(1).i32Sub().localTee(jr).brIf(0);
  f.end();
  return { name, params: new Array<ValType>(13).fill(i32), locals: new Array<ValType>(5).fill(i32), body: f };
}
