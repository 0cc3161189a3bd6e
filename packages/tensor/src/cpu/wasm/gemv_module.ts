import { Code, emitModule, i32, v128, type FuncDef } from "./encoder.js";

/**
 * Matrix-vector products for single-row matmuls (decoding), reading the matrix in the layout it
 * was staged in with plain row copies, so staging costs a memcpy, not the GEMM's panel packing:
 *  - `gemv_n(x, b, y, k, n4, ldb)`: y[n] += sum over k of x[k] b[k][n], b rows ldb bytes apart
 *    (a [K, N] weight, x @ W); y must hold its running sums (zeros at first), n4 groups of four;
 *  - `gemv_t(w, x, y, n, k4, ldw)`: y[j] = sum over k of w[j][k] x[k] for j < n, w rows ldw bytes
 *    apart (a [N, K] weight, x @ W^T), k4 groups of four, rows and x zero-padded to whole groups.
 * Addresses and strides in bytes.
 */
function gemvN(): FuncDef {
  const x = 0,
    b = 1,
    y = 2,
    k = 3,
    n4 = 4,
    ldb = 5;
  const xk = 6,
    j = 7,
    pb = 8,
    py = 9;
  const f = new Code();
  f.block().localGet(k).i32Eqz().brIf(0).localGet(n4).i32Eqz().brIf(0);
  f.loop(); // over k
  f.localGet(x).v128Load32Splat().localSet(xk);
  f.localGet(b).localSet(pb).localGet(y).localSet(py).localGet(n4).localSet(j);
  f.loop(); // over groups of four columns
  f.localGet(py).localGet(py).v128Load().localGet(pb).v128Load().localGet(xk).f32x4Mul().f32x4Add().v128Store();
  f.localGet(pb).i32Const(16).i32Add().localSet(pb);
  f.localGet(py).i32Const(16).i32Add().localSet(py);
  f.localGet(j).i32Const(1).i32Sub().localTee(j).brIf(0);
  f.end();
  f.localGet(x).i32Const(4).i32Add().localSet(x);
  f.localGet(b).localGet(ldb).i32Add().localSet(b);
  f.localGet(k).i32Const(1).i32Sub().localTee(k).brIf(0);
  f.end().end();
  return { name: "gemv_n", params: [i32, i32, i32, i32, i32, i32], locals: [v128, i32, i32, i32], body: f };
}

function gemvT(): FuncDef {
  const w = 0,
    x = 1,
    y = 2,
    n = 3,
    k4 = 4,
    ldw = 5;
  const acc = 6,
    j = 7,
    pw = 8,
    px = 9;
  const f = new Code();
  f.block().localGet(n).i32Eqz().brIf(0).localGet(k4).i32Eqz().brIf(0);
  f.loop(); // over rows of w
  f.v128Const0().localSet(acc);
  f.localGet(w).localSet(pw).localGet(x).localSet(px).localGet(k4).localSet(j);
  f.loop(); // over groups of four
  f.localGet(acc).localGet(pw).v128Load().localGet(px).v128Load().f32x4Mul().f32x4Add().localSet(acc);
  f.localGet(pw).i32Const(16).i32Add().localSet(pw);
  f.localGet(px).i32Const(16).i32Add().localSet(px);
  f.localGet(j).i32Const(1).i32Sub().localTee(j).brIf(0);
  f.end();
  // the four lane sums, added pairwise
  f.localGet(y);
  f.localGet(acc).f32x4ExtractLane(0).localGet(acc).f32x4ExtractLane(1).f32Add();
  f.localGet(acc).f32x4ExtractLane(2).localGet(acc).f32x4ExtractLane(3).f32Add();
  f.f32Add().f32Store();
  f.localGet(y).i32Const(4).i32Add().localSet(y);
  f.localGet(w).localGet(ldw).i32Add().localSet(w);
  f.localGet(n).i32Const(1).i32Sub().localTee(n).brIf(0);
  f.end().end();
  return { name: "gemv_t", params: [i32, i32, i32, i32, i32, i32], locals: [v128, i32, i32, i32], body: f };
}

export function gemvModule(): Uint8Array {
  return emitModule([gemvN(), gemvT()]);
}
