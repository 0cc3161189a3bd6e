import { bump, countdown, FnBuilder, horizontalSum, mulAdd } from "./builder.js";
import { f32, i32, v128, type FuncDef } from "./encoder.js";

/**
 * Matrix-vector products (decoding: one row times a weight) reading the weight where it lives in
 * wasm memory, in its own layout. Addresses and strides in bytes.
 *  - `dot_rows(w, ldw, x, y, n, k)`: y[i] = W[i, :k] . x for i < n (W rows ldw apart: a [out, in]
 *    weight, x @ W^T), row by row, each with two f32x4 sums (see `rows` below for the order).
 *  - `axpy_rows(x, w, ldw, y, k, n)`: y[:n] = sum over k of x[k] W[k, :n] (W rows ldw apart: an
 *    [in, out] weight, x @ W). y is overwritten; rows of W are added in order (AXPY_ROWS per
 *    pass over y), so a column's value does not depend on which columns (thread) computed it.
 * `fma` builds them with relaxed SIMD's fused multiply-add.
 */
/** Rows of W per dot-product pass: one (four sharing each load of x measured 12 against 21 GB/s). */
const ROWS = 1;
/**
 * Rows of W added per pass over y. One: measured 23 GB/s streaming 340 MB of [768, 2304] weights,
 * against 12 GB/s for four rows per pass (which saves loads and stores of y, but reads four
 * streams at once, which this machine's memory system serves far worse).
 */
const AXPY_ROWS = 1;

function dotRows(fma: boolean): FuncDef {
  const b = new FnBuilder("dot_rows");
  const f = b.f;
  const w = b.param(i32);
  const ldw = b.param(i32);
  const x = b.param(i32);
  const y = b.param(i32);
  const n = b.param(i32);
  const k = b.param(i32);
  const j = b.local(i32);
  const t = b.local(i32);
  const px = b.local(i32);
  const groups = b.local(i32);
  const p = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const even = [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const odd = [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const xv = [b.local(v128), b.local(v128)];
  const s = [b.local(f32), b.local(f32), b.local(f32), b.local(f32)];

  /** acc[r] += W[r] (at p[r] + offset) * x (in local xl). */
  const step = (count: number, acc: number[], offset: number, xl: number): void => {
    for (let r = 0; r < count; r++) {
      mulAdd(
        f,
        fma,
        () => f.localGet(p[r]!).v128Load(offset),
        () => f.localGet(xl),
        () => f.localGet(acc[r]!),
      );
      f.localSet(acc[r]!);
    }
  };
  /**
   * `count` rows from w: groups of 16 k split over two sums per row (vectors 0, 2 and 1, 3: two
   * dependency chains per row keep the adds busy), the remaining whole vectors into the first,
   * the two added, their lanes summed, then the k % 4 last products in order; stored, and w and
   * y move on. The same steps for one row or four, so a row's value never depends on its group.
   */
  const rows = (count: number): void => {
    f.localGet(w).localSet(p[0]!);
    for (let r = 1; r < count; r++)
      f.localGet(p[r - 1]!)
        .localGet(ldw)
        .i32Add()
        .localSet(p[r]!);
    for (let r = 0; r < count; r++) f.v128Const0().localSet(even[r]!).v128Const0().localSet(odd[r]!);
    f.localGet(x).localSet(px).localGet(k).i32Const(4).i32ShrU().localSet(j);
    countdown(f, j, () => {
      for (let v = 0; v < 4; v++) {
        f.localGet(px)
          .v128Load(16 * v)
          .localSet(xv[v % 2]!);
        step(count, v % 2 === 0 ? even : odd, 16 * v, xv[v % 2]!);
      }
      for (let r = 0; r < count; r++) bump(f, p[r]!, 64);
      bump(f, px, 64);
    });
    f.localGet(k).i32Const(2).i32ShrU().i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(px).v128Load().localSet(xv[0]!);
      step(count, even, 0, xv[0]!);
      for (let r = 0; r < count; r++) bump(f, p[r]!, 16);
      bump(f, px, 16);
    });
    for (let r = 0; r < count; r++) {
      f.localGet(even[r]!).localGet(odd[r]!).f32x4Add().localSet(even[r]!);
      horizontalSum(f, even[r]!);
      f.localSet(s[r]!);
    }
    f.localGet(k).i32Const(3).i32And().localSet(t);
    countdown(f, t, () => {
      for (let r = 0; r < count; r++) {
        f.localGet(s[r]!).localGet(p[r]!).f32Load().localGet(px).f32Load().f32Mul().f32Add().localSet(s[r]!);
        bump(f, p[r]!, 4);
      }
      bump(f, px, 4);
    });
    for (let r = 0; r < count; r++)
      f.localGet(y)
        .localGet(s[r]!)
        .f32Store(4 * r);
    bump(f, y, 4 * count);
    f.localGet(w).localGet(ldw).i32Const(count).i32Mul().i32Add().localSet(w);
  };
  // One row at a time: measured faster than four rows sharing each load of x (21 vs 12 GB/s
  // streaming a 154 MB weight), which interleaves four streams through memory.
  f.localGet(n).localSet(groups);
  countdown(f, groups, () => rows(ROWS));
  return b.def();
}

function axpyRows(fma: boolean, rowsPerPass: number): FuncDef {
  const b = new FnBuilder("axpy_rows");
  const f = b.f;
  const x = b.param(i32);
  const w = b.param(i32);
  const ldw = b.param(i32);
  const y = b.param(i32);
  const k = b.param(i32);
  const n = b.param(i32);
  const j = b.local(i32);
  const kk = b.local(i32);
  const py = b.local(i32);
  const p = [b.local(i32), b.local(i32), b.local(i32), b.local(i32)];
  const xs = [b.local(v128), b.local(v128), b.local(v128), b.local(v128)];
  const acc = b.local(v128);
  const sacc = b.local(f32);

  // y = 0
  f.localGet(y).localSet(py).localGet(n).i32Const(2).i32ShrU().localSet(j);
  countdown(f, j, () => {
    f.localGet(py).v128Const0().v128Store();
    bump(f, py, 16);
  });
  f.localGet(n).i32Const(3).i32And().localSet(j);
  countdown(f, j, () => {
    f.localGet(py).f32Const(0).f32Store();
    bump(f, py, 4);
  });
  /** One pass over y adding `count` rows of W (from w) times x[..count]; then x and w move on. */
  const pass = (count: number): void => {
    f.localGet(w).localSet(p[0]!);
    for (let r = 0; r < count; r++) {
      if (r > 0)
        f.localGet(p[r - 1]!)
          .localGet(ldw)
          .i32Add()
          .localSet(p[r]!);
      f.localGet(x)
        .v128Load32Splat(4 * r)
        .localSet(xs[r]!);
    }
    f.localGet(y).localSet(py).localGet(n).i32Const(2).i32ShrU().localSet(j);
    countdown(f, j, () => {
      f.localGet(py).v128Load().localSet(acc);
      for (let r = 0; r < count; r++) {
        mulAdd(
          f,
          fma,
          () => f.localGet(xs[r]!),
          () => f.localGet(p[r]!).v128Load(),
          () => f.localGet(acc),
        );
        f.localSet(acc);
        bump(f, p[r]!, 16);
      }
      f.localGet(py).localGet(acc).v128Store();
      bump(f, py, 16);
    });
    // the n % 4 last columns one at a time (the same columns whatever the split: parts end on multiples of 4)
    f.localGet(n).i32Const(3).i32And().localSet(j);
    countdown(f, j, () => {
      f.localGet(py).f32Load().localSet(sacc);
      for (let r = 0; r < count; r++) {
        f.localGet(sacc).localGet(xs[r]!).f32x4ExtractLane(0).localGet(p[r]!).f32Load().f32Mul().f32Add().localSet(sacc);
        bump(f, p[r]!, 4);
      }
      f.localGet(py).localGet(sacc).f32Store();
      bump(f, py, 4);
    });
    bump(f, x, 4 * count);
    f.localGet(w).localGet(ldw).i32Const(count).i32Mul().i32Add().localSet(w);
  };
  const log = Math.log2(rowsPerPass);
  f.localGet(k).i32Const(log).i32ShrU().localSet(kk);
  countdown(f, kk, () => pass(rowsPerPass));
  if (rowsPerPass > 1) {
    f.localGet(k)
      .i32Const(rowsPerPass - 1)
      .i32And()
      .localSet(kk);
    countdown(f, kk, () => pass(1));
  }
  return b.def();
}

export function matvecFunctions(fma: boolean): FuncDef[] {
  return [dotRows(fma), axpyRows(fma, AXPY_ROWS)];
}
