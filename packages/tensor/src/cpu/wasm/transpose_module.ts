import { Code, i32, v128, type FuncDef, type ValType } from "./encoder.js";

/**
 * `transpose(src, ld, dst, k4, np)`: packs B columns, staged as lines (column n at byte address
 * src + n*ld, its k values contiguous), into the kernel's k-major panels of NR columns (panel q,
 * step p at dst + (q*4*k4 + p) * NR*4): np panels of 4*k4 steps. Four columns x four steps at a
 * time: four v128 loads, a 4 x 4 transpose in eight shuffles, four v128 stores. This is the
 * x @ W^T case (a weight stored [out, in]), which JS could only pack element by element.
 */
export function transpose(NR: number): FuncDef {
  // params
  const src = 0,
    ld = 1,
    dst = 2,
    k4 = 3,
    np = 4;
  // locals: i32 counters and pointers, multiples of ld, then v128 loads and half-transposed pairs
  const jr = 5,
    kk = 6,
    s = 7;
  const mul = (i: number): number => 7 + i; // i*ld for i = 1 .. NR-1
  const r = (i: number): number => 7 + NR + i;
  const t = (i: number): number => 7 + NR + 4 + i;
  const locals: ValType[] = [i32, i32, i32, ...new Array<ValType>(NR - 1).fill(i32), ...new Array<ValType>(8).fill(v128)];

  const f = new Code();
  for (let i = 1; i < NR; i++) f.localGet(ld).i32Const(i).i32Mul().localSet(mul(i));
  const rowAddress = (i: number): void => void (i === 0 ? f.localGet(s) : f.localGet(s).localGet(mul(i)).i32Add());
  f.localGet(np).localSet(jr);
  f.loop(); // over panels
  f.localGet(src).localSet(s).localGet(k4).localSet(kk);
  f.loop(); // over groups of four steps of k
  for (let g = 0; g < NR / 4; g++) {
    for (let i = 0; i < 4; i++) {
      rowAddress(g * 4 + i);
      f.v128Load().localSet(r(i));
    }
    // pairs of columns interleaved, then pairs of pairs: lane j of output k is column j's step k
    f.localGet(r(0)).localGet(r(1)).f32x4Shuffle([0, 4, 1, 5]).localSet(t(0));
    f.localGet(r(0)).localGet(r(1)).f32x4Shuffle([2, 6, 3, 7]).localSet(t(1));
    f.localGet(r(2)).localGet(r(3)).f32x4Shuffle([0, 4, 1, 5]).localSet(t(2));
    f.localGet(r(2)).localGet(r(3)).f32x4Shuffle([2, 6, 3, 7]).localSet(t(3));
    const out = [
      [0, 2, [0, 1, 4, 5]],
      [0, 2, [2, 3, 6, 7]],
      [1, 3, [0, 1, 4, 5]],
      [1, 3, [2, 3, 6, 7]],
    ] as const;
    out.forEach(([x, y, lanes], k) => {
      f.localGet(dst)
        .localGet(t(x))
        .localGet(t(y))
        .f32x4Shuffle(lanes)
        .v128Store((k * NR + g * 4) * 4);
    });
  }
  f.localGet(s).i32Const(16).i32Add().localSet(s);
  f.localGet(dst)
    .i32Const(4 * NR * 4)
    .i32Add()
    .localSet(dst);
  f.localGet(kk).i32Const(1).i32Sub().localTee(kk).brIf(0);
  f.end();
  f.localGet(src)
    .localGet(mul(NR - 1))
    .i32Add()
    .localGet(ld)
    .i32Add()
    .localSet(src);
  f.localGet(jr).i32Const(1).i32Sub().localTee(jr).brIf(0);
  f.end();
  return { name: "transpose", params: [i32, i32, i32, i32, i32], locals, body: f };
}
