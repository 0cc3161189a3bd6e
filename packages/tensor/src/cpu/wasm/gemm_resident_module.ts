import { bump, countdown, FnBuilder } from "./builder.js";
import { i32, v128, type FuncDef } from "./encoder.js";
import { gemmShape, kernel } from "./gemm_module.js";
import { transpose } from "./transpose_module.js";

/**
 * GEMM on operands where they live in wasm memory: `gemm(...)` computes the columns [j0, j1) of
 * C = A B, the whole loop nest in WASM (so a worker thread runs it from one call). Addresses and
 * strides in bytes:
 *   A (r, p) at a + r*aRow + p*aStep     any strides: the micro-kernel reads A in place
 *   B (p, j) at b + p*bk + j*bn          packed per block into `pack` (see the packing below)
 *   C (r, j) at c + r*ldc + j*4
 * Blocked as BLIS is (NC columns, KC depth, MC rows; NR x MR tiles, the B panel outer so it stays
 * in L1 while A streams from L2). Tiles that cross C's last row or column go through `tile`
 * (scratch for MR x NR floats), so nothing outside C is ever written. Each C element is one lane
 * of the same micro-kernel sum over k in order, whatever tile, block or thread it falls in, so the
 * split over threads never changes a result.
 */
const { MR, NR } = gemmShape;
export const KC = 256;
export const NC = 512;
export const MC = 64;
const LOG_NR = Math.log2(NR);
if (!Number.isInteger(LOG_NR)) throw new Error("gemm: NR must be a power of two");

/** Functions 0 and 1: the 2- and 1-row tiles; 2: transpose; 3: pack_b; 4: pack_rows; 5: pack_a; 6: gemm; 7: gemm_list. */
const TILE2 = 0;
const TILE1 = 1;
const TRANSPOSE = 2;
const PACK = 3;
const PACK_ROWS = 4;
const PACK_A = 5;
const GEMM = 6;
/** The i32 words of one `gemm_list` entry: gemm's arguments in order. */
export const GEMM_ARGS = 15;

/**
 * `pack_a(src, aRow, aStep, dst, rows, kc)`: A's rows x kc block into MR-row panels, k-major
 * (panel q, step p, row r at dst + ((q*kc + p)*MR + r)*4), rows past the end zero: the kernel
 * then reads one stream per tile, whatever A's strides. A whole panel is copied without a test per
 * element: where A's rows run along k (aStep 4, x @ W) four steps of both rows at a time,
 * interleaved by two shuffles (2-6% faster GEMMs at the training step's shapes); where the panel's
 * rows are neighbours (aRow 4, a transposed A such as x^T @ g) each step's pair as one 8-byte word
 * (walking A's rows instead, two panels from each 16 bytes, was 2-7% slower: the scattered panel
 * writes cost more than the strided reads); otherwise float by float. Only a last panel with fewer
 * than MR rows tests each row. Every float is moved bit for bit.
 */
function packA(): FuncDef {
  if (MR !== 2) throw new Error("pack_a: the whole-panel paths are written for MR = 2");
  const b = new FnBuilder("pack_a");
  const f = b.f;
  const src = b.param(i32);
  const aRow = b.param(i32);
  const aStep = b.param(i32);
  const dst = b.param(i32);
  const rows = b.param(i32);
  const kc = b.param(i32);
  const r0 = b.local(i32);
  const p = b.local(i32);
  const s = b.local(i32);
  const s1 = b.local(i32);
  const v0 = b.local(v128);
  const v1 = b.local(v128);
  /** One step's MR floats of rows s and s1 (the whole-panel paths' scalar step). */
  const stepScalar = (): void => {
    f.localGet(dst).localGet(s).f32Load().f32Store(0);
    f.localGet(dst).localGet(s1).f32Load().f32Store(4);
    bump(f, s, { local: aStep });
    bump(f, s1, { local: aStep });
    bump(f, dst, MR * 4);
  };
  f.i32Const(0).localSet(r0);
  f.block().loop();
  f.localGet(r0).localGet(rows).i32GeU().brIf(1);
  f.localGet(src).localGet(r0).localGet(aRow).i32Mul().i32Add().localSet(s);
  f.localGet(s).localGet(aRow).i32Add().localSet(s1);
  f.localGet(r0).i32Const(MR).i32Add().localGet(rows).i32LeU().if(); // a whole panel
  f.localGet(aStep).i32Const(4).i32Eq().if();
  // rows along k: [a0 a1 a2 a3] [b0 b1 b2 b3] -> [a0 b0 a1 b1] [a2 b2 a3 b3]
  f.localGet(kc).i32Const(2).i32ShrU().localSet(p);
  countdown(f, p, () => {
    f.localGet(s).v128Load().localSet(v0);
    f.localGet(s1).v128Load().localSet(v1);
    f.localGet(dst).localGet(v0).localGet(v1).f32x4Shuffle([0, 4, 1, 5]).v128Store(0);
    f.localGet(dst).localGet(v0).localGet(v1).f32x4Shuffle([2, 6, 3, 7]).v128Store(16);
    bump(f, s, 16);
    bump(f, s1, 16);
    bump(f, dst, 32);
  });
  f.localGet(kc).i32Const(3).i32And().localSet(p);
  countdown(f, p, stepScalar);
  f.else();
  f.localGet(aRow).i32Const(4).i32Eq().if();
  f.localGet(kc).localSet(p);
  countdown(f, p, () => {
    f.localGet(dst).localGet(s).i64Load().i64Store();
    bump(f, s, { local: aStep });
    bump(f, dst, MR * 4);
  });
  f.else();
  f.localGet(kc).localSet(p);
  countdown(f, p, stepScalar);
  f.end();
  f.end();
  f.else(); // the last rows, fewer than MR: zeros below them
  f.localGet(kc).localSet(p);
  countdown(f, p, () => {
    for (let r = 0; r < MR; r++) {
      f.localGet(r0).i32Const(r).i32Add().localGet(rows).i32LtU().if();
      f.localGet(dst)
        .localGet(s)
        .localGet(aRow)
        .i32Const(r)
        .i32Mul()
        .i32Add()
        .f32Load()
        .f32Store(4 * r);
      f.else();
      f.localGet(dst)
        .f32Const(0)
        .f32Store(4 * r);
      f.end();
    }
    f.localGet(s).localGet(aStep).i32Add().localSet(s);
    bump(f, dst, MR * 4);
  });
  f.end();
  bump(f, r0, MR);
  f.br(0).end().end();
  return b.def();
}

/** `pack_rows(src, bk, dst, kc, np, ldp)`: np whole panels of B whose rows are contiguous (bk bytes apart), NR floats per step. */
function packRows(): FuncDef {
  const b = new FnBuilder("pack_rows");
  const f = b.f;
  const src = b.param(i32);
  const bk = b.param(i32);
  const dst = b.param(i32);
  const kc = b.param(i32);
  const np = b.param(i32);
  const ldp = b.param(i32);
  const p = b.local(i32);
  const s = b.local(i32);
  const d = b.local(i32);
  countdown(f, np, () => {
    f.localGet(src).localSet(s).localGet(dst).localSet(d).localGet(kc).localSet(p);
    countdown(f, p, () => {
      for (let v = 0; v < NR / 4; v++)
        f.localGet(d)
          .localGet(s)
          .v128Load(16 * v)
          .v128Store(16 * v);
      f.localGet(s).localGet(bk).i32Add().localSet(s);
      bump(f, d, NR * 4);
    });
    bump(f, src, NR * 4);
    f.localGet(dst).localGet(ldp).i32Add().localSet(dst);
  });
  return b.def();
}

/** `pack_b(src, bk, bn, dst, kc, nc, ldp)`: B's kc x nc block into NR-column panels (ldp bytes apart), zeros past nc. */
function packB(): FuncDef {
  const b = new FnBuilder("pack_b");
  const f = b.f;
  const src = b.param(i32);
  const bk = b.param(i32);
  const bn = b.param(i32);
  const dst = b.param(i32);
  const kc = b.param(i32);
  const nc = b.param(i32);
  const ldp = b.param(i32);
  const q = b.local(i32);
  const p = b.local(i32);
  const r = b.local(i32);
  const j = b.local(i32);
  const d = b.local(i32);
  const s = b.local(i32);
  // for each panel q (columns q*NR ..), each step p, each lane r: dst = j < nc ? B(p, j) : 0
  f.i32Const(0).localSet(q);
  f.block().loop();
  f.localGet(q).localGet(nc).i32GeU().brIf(1);
  f.localGet(dst).localGet(q).i32Const(LOG_NR).i32ShrU().localGet(ldp).i32Mul();
  f.i32Add().localSet(d);
  f.i32Const(0).localSet(p);
  f.block().loop();
  f.localGet(p).localGet(kc).i32GeU().brIf(1);
  f.localGet(src).localGet(p).localGet(bk).i32Mul().i32Add().localGet(q).localGet(bn).i32Mul().i32Add().localSet(s);
  f.i32Const(0).localSet(r);
  f.block().loop();
  f.localGet(r).i32Const(NR).i32GeU().brIf(1);
  f.localGet(q).localGet(r).i32Add().localSet(j);
  f.localGet(j).localGet(nc).i32LtU().if();
  f.localGet(d).localGet(s).localGet(r).localGet(bn).i32Mul().i32Add().f32Load().f32Store();
  f.else();
  f.localGet(d).f32Const(0).f32Store();
  f.end();
  bump(f, d, 4);
  bump(f, r, 1);
  f.br(0).end().end();
  bump(f, p, 1);
  f.br(0).end().end();
  bump(f, q, NR);
  f.br(0).end().end();
  return b.def();
}

function gemm(): FuncDef {
  const b = new FnBuilder("gemm");
  const f = b.f;
  const a = b.param(i32);
  const aRow = b.param(i32);
  const aStep = b.param(i32);
  const bp = b.param(i32);
  const bk = b.param(i32);
  const bn = b.param(i32);
  const c = b.param(i32);
  const ldc = b.param(i32);
  const m = b.param(i32);
  const k = b.param(i32);
  const j0 = b.param(i32);
  const j1 = b.param(i32);
  const pack = b.param(i32);
  const tile = b.param(i32);
  const packedA = b.param(i32);
  // locals
  const jc = b.local(i32);
  const nc = b.local(i32);
  const pc = b.local(i32);
  const kc = b.local(i32);
  const ic = b.local(i32);
  const icEnd = b.local(i32);
  const q = b.local(i32); // column of the panel, from jc
  const cols = b.local(i32);
  const r = b.local(i32);
  const rows = b.local(i32);
  const bBase = b.local(i32);
  const bStep = b.local(i32);
  const bPanel = b.local(i32);
  const acc = b.local(i32);
  const ap = b.local(i32);
  const cp = b.local(i32);
  const bq = b.local(i32);
  const i = b.local(i32);
  const jj = b.local(i32);

  const min = (x: () => void, y: () => void, out: number): void => {
    x();
    y();
    x();
    y();
    f.i32LtU().select().localSet(out);
  };
  /** The tile at (ap, bq) into cp or through `tile` (rows x cols valid), with kernel `fn`. */
  const callKernel = (fn: number, cAt: () => void, ld: () => void): void => {
    f.localGet(ap).localGet(bq);
    cAt();
    f.localGet(kc);
    ld();
    f.localGet(acc)
      .i32Const(MR * 4)
      .i32Const(4)
      .localGet(bStep)
      .call(fn);
  };
  /** Copies rows x cols floats between C (at cp, ldc apart) and the tile (NR*4 apart). */
  const copyTile = (toTile: boolean): void => {
    f.i32Const(0).localSet(i);
    f.block().loop();
    f.localGet(i).localGet(rows).i32GeU().brIf(1);
    f.i32Const(0).localSet(jj);
    f.block().loop();
    f.localGet(jj).localGet(cols).i32GeU().brIf(1);
    const tileAt = (): void =>
      void f
        .localGet(tile)
        .localGet(i)
        .i32Const(NR * 4)
        .i32Mul()
        .i32Add()
        .localGet(jj)
        .i32Const(4)
        .i32Mul()
        .i32Add();
    const cAt = (): void => void f.localGet(cp).localGet(i).localGet(ldc).i32Mul().i32Add().localGet(jj).i32Const(4).i32Mul().i32Add();
    if (toTile) {
      tileAt();
      cAt();
      f.f32Load().f32Store();
    } else {
      cAt();
      tileAt();
      f.f32Load().f32Store();
    }
    bump(f, jj, 1);
    f.br(0).end().end();
    bump(f, i, 1);
    f.br(0).end().end();
  };

  f.localGet(j0).localSet(jc);
  f.block().loop(); // jc: blocks of NC columns
  f.localGet(jc).localGet(j1).i32GeU().brIf(1);
  min(
    () => f.i32Const(NC),
    () => f.localGet(j1).localGet(jc).i32Sub(),
    nc,
  );
  f.i32Const(0).localSet(pc);
  f.block().loop(); // pc: blocks of KC steps
  f.localGet(pc).localGet(k).i32GeU().brIf(1);
  min(
    () => f.i32Const(KC),
    () => f.localGet(k).localGet(pc).i32Sub(),
    kc,
  );
  f.localGet(pc).i32Const(0).i32Ne().localSet(acc);
  // B's block packed into NR-column panels, kc steps rounded up to 4 apart (the transpose writes
  // whole groups of four): rows copied vector by vector (bn = 4, x @ W), columns transposed four
  // by four (bk = 4, x @ W^T), anything else element-wise, as is a last partial panel. Reading B
  // in place was measured slower: its rows' power-of-two-ish strides map a panel to few L1 sets.
  const full = b.local(i32); // whole panels, packed by the fast paths
  f.localGet(pack).localSet(bBase);
  f.i32Const(NR * 4).localSet(bStep);
  f.localGet(kc)
    .i32Const(3)
    .i32Add()
    .i32Const(-4)
    .i32And()
    .i32Const(NR * 4)
    .i32Mul()
    .localSet(bPanel);
  f.localGet(nc).i32Const(LOG_NR).i32ShrU().localSet(full);
  f.localGet(bn).i32Const(4).i32Eq().if();
  f.localGet(bp).localGet(pc).localGet(bk).i32Mul().i32Add().localGet(jc).i32Const(4).i32Mul().i32Add();
  f.localGet(bk).localGet(pack).localGet(kc).localGet(full).localGet(bPanel).call(PACK_ROWS);
  f.else();
  f.localGet(bk).i32Const(4).i32Eq().if();
  f.localGet(full).if(); // (transpose runs at least one panel)
  f.localGet(bp).localGet(pc).i32Const(4).i32Mul().i32Add().localGet(jc).localGet(bn).i32Mul().i32Add();
  f.localGet(bn).localGet(pack).localGet(kc).i32Const(3).i32Add().i32Const(2).i32ShrU();
  f.localGet(full).call(TRANSPOSE);
  f.end();
  f.else();
  f.i32Const(0).localSet(full);
  f.end();
  f.end();
  // the rest (a partial panel, or everything) element-wise
  f.localGet(nc).localGet(full).i32Const(LOG_NR).i32Shl().i32GtU().if();
  f.localGet(bp).localGet(pc).localGet(bk).i32Mul().i32Add();
  f.localGet(jc).localGet(full).i32Const(LOG_NR).i32Shl().i32Add().localGet(bn).i32Mul().i32Add();
  f.localGet(bk).localGet(bn);
  f.localGet(pack).localGet(full).localGet(bPanel).i32Mul().i32Add();
  f.localGet(kc).localGet(nc).localGet(full).i32Const(LOG_NR).i32Shl().i32Sub().localGet(bPanel).call(PACK);
  f.end();

  f.i32Const(0).localSet(ic);
  f.block().loop(); // ic: blocks of MC rows
  f.localGet(ic).localGet(m).i32GeU().brIf(1);
  min(
    () => f.localGet(ic).i32Const(MC).i32Add(),
    () => f.localGet(m),
    icEnd,
  );
  // this block of A into panels (scratch packedA: MC x KC floats)
  f.localGet(a).localGet(ic).localGet(aRow).i32Mul().i32Add().localGet(pc).localGet(aStep).i32Mul().i32Add();
  f.localGet(aRow).localGet(aStep).localGet(packedA).localGet(icEnd).localGet(ic).i32Sub().localGet(kc).call(PACK_A);
  f.i32Const(0).localSet(q);
  f.localGet(bBase).localSet(bq);
  f.block().loop(); // panels of NR columns
  f.localGet(q).localGet(nc).i32GeU().brIf(1);
  min(
    () => f.i32Const(NR),
    () => f.localGet(nc).localGet(q).i32Sub(),
    cols,
  );
  f.localGet(ic).localSet(r);
  f.block().loop(); // tiles of MR rows
  f.localGet(r).localGet(icEnd).i32GeU().brIf(1);
  min(
    () => f.i32Const(MR),
    () => f.localGet(icEnd).localGet(r).i32Sub(),
    rows,
  );
  f.localGet(packedA).localGet(r).localGet(ic).i32Sub().localGet(kc).i32Mul().i32Const(4).i32Mul().i32Add().localSet(ap);
  f.localGet(c).localGet(r).localGet(ldc).i32Mul().i32Add().localGet(jc).localGet(q).i32Add().i32Const(4).i32Mul().i32Add().localSet(cp);
  f.localGet(cols).i32Const(NR).i32Eq().if();
  // whole columns: straight into C
  f.localGet(rows).i32Const(MR).i32Eq().if();
  callKernel(
    TILE2,
    () => f.localGet(cp),
    () => f.localGet(ldc),
  );
  f.else();
  callKernel(
    TILE1,
    () => f.localGet(cp),
    () => f.localGet(ldc),
  );
  f.end();
  f.else();
  // C's last columns: through the tile
  f.localGet(acc).if();
  copyTile(true);
  f.end();
  f.localGet(rows).i32Const(MR).i32Eq().if();
  callKernel(
    TILE2,
    () => f.localGet(tile),
    () => f.i32Const(NR * 4),
  );
  f.else();
  callKernel(
    TILE1,
    () => f.localGet(tile),
    () => f.i32Const(NR * 4),
  );
  f.end();
  copyTile(false);
  f.end();
  f.localGet(r).localGet(rows).i32Add().localSet(r);
  f.br(0).end().end();
  f.localGet(bq).localGet(bPanel).i32Add().localSet(bq);
  bump(f, q, NR);
  f.br(0).end().end();
  f.localGet(icEnd).localSet(ic);
  f.br(0).end().end();
  bump(f, pc, KC);
  f.br(0).end().end();
  bump(f, jc, NC);
  f.br(0).end().end();
  return b.def();
}

/**
 * `gemm_list(list, count)`: `count` GEMMs one after another, each `gemm(...)` with the GEMM_ARGS
 * i32 words at list + e*GEMM_ARGS*4: a batch of small products (attention's per-head matmuls) in
 * one call, so a thread takes whole batch entries instead of every entry waking every thread.
 */
function gemmList(): FuncDef {
  const b = new FnBuilder("gemm_list");
  const f = b.f;
  const list = b.param(i32);
  const count = b.param(i32);
  countdown(f, count, () => {
    for (let w = 0; w < GEMM_ARGS; w++) f.localGet(list).i32Load(4 * w);
    f.call(GEMM);
    bump(f, list, GEMM_ARGS * 4);
  });
  return b.def();
}

export function gemmResidentFunctions(fma: boolean): FuncDef[] {
  return [
    { ...kernel(MR, NR, fma), name: "tile2" },
    { ...kernel(1, NR, fma), name: "tile1" },
    transpose(NR),
    packB(),
    packRows(),
    packA(),
    gemm(),
    gemmList(),
  ];
}
