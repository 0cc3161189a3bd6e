import { describe, expect, it } from "vitest";
import { backend, reportSkip } from "./helpers/gpu.js";
import { TILE_LARGE, TILE_SMALL, VEC4_LARGE, VEC4_SMALL } from "../src/index.js";
import {
  at,
  broadcast,
  expectClose,
  forEachIndex,
  randomArray,
  transpose,
  whole,
  type HostView,
  type ViewPair,
} from "./helpers/reference.js";

reportSkip();

function matmulRef(a: HostView, b: HostView): number[] {
  const r = a.shape.length;
  const [M, K, N] = [a.shape[r - 2]!, a.shape[r - 1]!, b.shape[r - 1]!];
  const out: number[] = [];
  forEachIndex([...a.shape.slice(0, r - 2), M, N], (c) => {
    const batch = c.slice(0, r - 2);
    let s = 0;
    for (let k = 0; k < K; k++) s += at(a, [...batch, c[r - 2]!, k]) * at(b, [...batch, k, c[r - 1]!]);
    out.push(s);
  });
  return out;
}

describe.skipIf(!backend)("webgpu matmul", () => {
  const b = backend!;
  const make = (shape: number[], seed: number, transposed = false): ViewPair => {
    const n = shape.reduce((x, y) => x * y, 1);
    const data = randomArray(n, seed, -1, 1);
    if (!transposed) return whole(b.upload(data, "float32"), data, shape);
    const r = shape.length;
    const stored = [...shape.slice(0, r - 2), shape[r - 1]!, shape[r - 2]!];
    return transpose(whole(b.upload(data, "float32"), data, stored), r - 2, r - 1);
  };

  // [M, K, N, a transposed, b transposed]: the default choice (gemv for few rows, else one thread per output).
  const cases: [number, number, number, boolean, boolean][] = [
    [1, 8, 5, false, false], // gemv, B along N
    [3, 70, 33, false, true], // gemv, B along K (x @ W^T)
    [1, 300, 260, true, false],
    [17, 19, 23, false, false],
    [65, 33, 70, true, true],
  ];
  it.each(cases)("[%i x %i] @ [.. x %i] (a^T: %s, b^T: %s) matches the reference", async (M, K, N, ta, tb) => {
    const a = make([M, K], M * 31 + K, ta);
    const c = make([K, N], N * 17 + K, tb);
    const out = b.matmul(a.gpu, c.gpu);
    expectClose(await b.read(out), matmulRef(a.host, c.host), 1e-5, `matmul ${M}x${K}x${N}`);
  });

  // The tiled kernel, forced: each operand layout (which axis is contiguous) is its own variant.
  const tiledCases: [number, number, number, boolean, boolean][] = [
    [17, 19, 23, false, false],
    [65, 33, 70, true, true],
    [130, 40, 129, false, true],
    [70, 21, 64, true, false],
  ];
  it.each(tiledCases)("tiled [%i x %i] @ [.. x %i] (a^T: %s, b^T: %s) matches the reference", async (M, K, N, ta, tb) => {
    const a = make([M, K], M * 31 + K, ta);
    const c = make([K, N], N * 17 + K, tb);
    const out = b.matmulWithTile(a.gpu, c.gpu, TILE_SMALL);
    expectClose(await b.read(out), matmulRef(a.host, c.host), 1e-5, `matmul ${M}x${K}x${N}`);
  });

  it("batched with a broadcast batch dim (stride 0) and a permuted batch", async () => {
    const a = make([2, 3, 5, 7], 1); // [2, 3, 5, 7]
    const w = make([7, 6], 2);
    const wb = broadcast(broadcast(w, 0, 3), 0, 2); // [2, 3, 7, 6], stride 0 batches
    expectClose(await b.read(b.matmul(a.gpu, wb.gpu)), matmulRef(a.host, wb.host), 1e-5);
    const p = transpose(make([3, 2, 5, 7], 3), 0, 1); // batch dims swapped
    expectClose(await b.read(b.matmul(p.gpu, wb.gpu)), matmulRef(p.host, wb.host), 1e-5);
    const one = make([2, 3, 1, 7], 4); // decode-shaped: gemv per batch
    expectClose(await b.read(b.matmul(one.gpu, wb.gpu)), matmulRef(one.host, wb.host), 1e-5);
  });

  it("both tile shapes give the same answer on an aligned and a ragged problem", async () => {
    for (const [M, K, N] of [
      [128, 16, 128],
      [150, 20, 131],
    ] as const) {
      const a = make([M, K], 5);
      const c = make([K, N], 6);
      const ref = matmulRef(a.host, c.host);
      expectClose(await b.read(b.matmulWithTile(a.gpu, c.gpu, TILE_SMALL)), ref, 1e-5, "small tiles");
      expectClose(await b.read(b.matmulWithTile(a.gpu, c.gpu, TILE_LARGE)), ref, 1e-5, "large tiles");
    }
  });

  it("vec4 kernels: row-major whole tiles, batched with offsets, chosen by default when they apply", async () => {
    const a = make([2, 64, 16], 7); // two batches, offsets 0 and 1024
    const c = make([16, 64], 8);
    const cb = broadcast(c, 0, 2);
    const ref = matmulRef(a.host, cb.host);
    expectClose(await b.read(b.matmulWithTile(a.gpu, cb.gpu, VEC4_SMALL)), ref, 1e-5, "vec4 64x64");
    const big = make([128, 8], 9);
    const w = make([8, 128], 10);
    expectClose(await b.read(b.matmulWithTile(big.gpu, w.gpu, VEC4_LARGE)), matmulRef(big.host, w.host), 1e-5, "vec4 128x128");
    // 256^3 multiply-adds: above the one-thread-per-output size, so the default is the vec4 kernel.
    const x = make([256, 256], 11);
    const y = make([256, 256], 12);
    expectClose(await b.read(b.matmul(x.gpu, y.gpu)), matmulRef(x.host, y.host), 1e-4, "default 256^3");
    expect(() => b.matmulWithTile(transpose(big, 0, 1).gpu, big.gpu, VEC4_SMALL)).toThrow(/vec4 kernel needs row-major float32 operands/);
  });

  it("int32 matmul is exact; halves compute in f32; K = 0 gives zeros", async () => {
    const ai = new Int32Array([1, 2, 3, 4, 5, 6]);
    const a = whole(b.upload(ai, "int32"), ai, [2, 3]).gpu;
    const c = whole(b.upload(ai, "int32"), ai, [3, 2]).gpu;
    expect(Array.from(await b.read(b.matmul(a, c)))).toEqual([22, 28, 49, 64]);
    const h = whole(b.upload(new Float32Array([1, 2, 3, 4, 5, 6]), "bfloat16"), [], [2, 3]).gpu;
    const hc = whole(b.upload(new Float32Array([1, 2, 3, 4, 5, 6]), "bfloat16"), [], [3, 2]).gpu;
    expect(Array.from(await b.read(b.matmul(h, hc)))).toEqual(
      [22, 28, 49, 64].map((v) => new Uint16Array(new Float32Array([v]).buffer)[1]),
    );
    const e = whole(b.upload(new Float32Array(0), "float32"), [], [2, 0]).gpu;
    const f = whole(b.upload(new Float32Array(0), "float32"), [], [0, 3]).gpu;
    expect(Array.from(await b.read(b.matmul(e, f)))).toEqual([0, 0, 0, 0, 0, 0]);
  });
});
