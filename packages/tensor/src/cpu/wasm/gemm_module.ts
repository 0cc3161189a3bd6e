import { Code, emitModule, i32, v128, type FuncDef, type ValType } from "./encoder.js";

/**
 * The WASM SIMD GEMM kernel, in the layout of ../gemm.ts but in float32: A packed into MR-row
 * panels and B into NR-column panels, both k-major (a panel step of k is MR, resp. NR, floats),
 * with k padded to a multiple of U with zeros so the K loop needs no remainder.
 *
 * `kernel(a, b, c, kc, ldc, accumulate)`: C[MR x NR] at byte address c (row stride ldc bytes)
 *   (+)= A panel x B panel, the MR x NR tile held in MR * NR/4 f32x4 locals (registers).
 * `block(a, b, c, mp, np, kc, ldc, accumulate)`: the kernel over mp A panels x np B panels (the
 *   B panel outer, so it stays in L1 while the A block streams from L2); one call per cache block,
 *   so the JS-to-WASM call cost is paid once per block, not per tile.
 */
export interface GemmShape {
  /** Rows of the micro-tile. */
  MR: number;
  /** Columns of the micro-tile, a multiple of 4 (one f32x4 per 4 columns). */
  NR: number;
  /** K steps per loop iteration (unrolled); packed panels are padded to a multiple of it. */
  U: number;
}

/**
 * 2 x 16: 8 accumulators + 4 vectors of B + 2 splats of A + one product fill exactly the 15 xmm
 * registers V8 gives WASM on x64, so nothing spills (checked with --print-wasm-code). Measured on
 * the kernel alone, ahead of 4 x 8 (~40 vs ~50 GFLOP/s) and far ahead of tiles that spill (5 x 8,
 * 3 x 16, 4 x 12: 20-25). No unrolling: with U = 2 TurboFan hoists the second step's loads and
 * spills (~28).
 */
export const gemmShape: GemmShape = { MR: 2, NR: 16, U: 1 };

export function gemmModule({ MR, NR, U }: GemmShape): Uint8Array {
  return emitModule([kernel(MR, NR, U), block(MR, NR)]);
}

function kernel(MR: number, NR: number, U: number): FuncDef {
  const NV = NR / 4;
  // params
  const a = 0, b = 1, c = 2, kc = 3, ldc = 4, accumulate = 5;
  // locals: MR*NV accumulators, NV B vectors, one A splat, a C row pointer
  const acc = (r: number, v: number): number => 6 + r * NV + v;
  const bv = (v: number): number => 6 + MR * NV + v;
  const av = 6 + MR * NV + NV;
  const crow = av + 1;
  const locals: ValType[] = [...new Array<ValType>(MR * NV + NV + 1).fill(v128), i32];

  const f = new Code();
  const nextRow = (): void => void f.localGet(crow).localGet(ldc).i32Add().localSet(crow);
  // accumulators start from C (a later K block) or from zero
  f.localGet(accumulate).if();
  f.localGet(c).localSet(crow);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++) f.localGet(crow).v128Load(v * 16).localSet(acc(r, v));
    nextRow();
  }
  f.else();
  for (let r = 0; r < MR; r++) for (let v = 0; v < NV; v++) f.v128Const0().localSet(acc(r, v));
  f.end();

  // K loop, U steps per iteration: acc[r][v] += splat(A[k][r]) * B[k][4v .. 4v+4]
  f.loop();
  for (let u = 0; u < U; u++) {
    for (let v = 0; v < NV; v++) f.localGet(b).v128Load((u * NR + v * 4) * 4).localSet(bv(v));
    for (let r = 0; r < MR; r++) {
      f.localGet(a).v128Load32Splat((u * MR + r) * 4).localSet(av);
      for (let v = 0; v < NV; v++) {
        f.localGet(acc(r, v)).localGet(av).localGet(bv(v)).f32x4Mul().f32x4Add().localSet(acc(r, v));
      }
    }
  }
  f.localGet(a).i32Const(U * MR * 4).i32Add().localSet(a);
  f.localGet(b).i32Const(U * NR * 4).i32Add().localSet(b);
  f.localGet(kc).i32Const(U).i32Sub().localTee(kc).brIf(0);
  f.end();

  f.localGet(c).localSet(crow);
  for (let r = 0; r < MR; r++) {
    for (let v = 0; v < NV; v++) f.localGet(crow).localGet(acc(r, v)).v128Store(v * 16);
    nextRow();
  }
  return { name: "kernel", params: [i32, i32, i32, i32, i32, i32], locals, body: f };
}

function block(MR: number, NR: number): FuncDef {
  // params
  const a = 0, b = 1, c = 2, mp = 3, np = 4, kc = 5, ldc = 6, accumulate = 7;
  // locals: panel counters, moving A and C pointers, and the three strides
  const ir = 8, jr = 9, pa = 10, pc = 11, sa = 12, sb = 13, sc = 14;
  const f = new Code();
  f.localGet(kc).i32Const(MR * 4).i32Mul().localSet(sa); // bytes per A panel
  f.localGet(kc).i32Const(NR * 4).i32Mul().localSet(sb); // bytes per B panel
  f.localGet(ldc).i32Const(MR).i32Mul().localSet(sc); // bytes per MR rows of C
  f.localGet(np).localSet(jr);
  f.loop(); // over B panels
  f.localGet(a).localSet(pa).localGet(c).localSet(pc).localGet(mp).localSet(ir);
  f.loop(); // over A panels
  f.localGet(pa).localGet(b).localGet(pc).localGet(kc).localGet(ldc).localGet(accumulate).call(0);
  f.localGet(pa).localGet(sa).i32Add().localSet(pa);
  f.localGet(pc).localGet(sc).i32Add().localSet(pc);
  f.localGet(ir).i32Const(1).i32Sub().localTee(ir).brIf(0);
  f.end();
  f.localGet(b).localGet(sb).i32Add().localSet(b);
  f.localGet(c).i32Const(NR * 4).i32Add().localSet(c);
  f.localGet(jr).i32Const(1).i32Sub().localTee(jr).brIf(0);
  f.end();
  const params: ValType[] = [i32, i32, i32, i32, i32, i32, i32, i32];
  return { name: "block", params, locals: new Array<ValType>(7).fill(i32), body: f };
}
