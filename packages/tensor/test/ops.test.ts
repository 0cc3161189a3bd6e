import { describe, expect, test } from "vitest";
import {
  arange,
  causalMask,
  concat,
  CpuBackend,
  empty,
  full,
  matmul,
  ones,
  rand,
  randn,
  Rng,
  split,
  stack,
  tensor,
  tril,
  triu,
  where,
  writeInto,
  zeros,
} from "../src/index.js";

const close = (actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5) => {
  expect(actual.length).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (!(Math.abs(actual[i]! - expected[i]!) <= tol || (Number.isNaN(actual[i]) && Number.isNaN(expected[i])))) {
      expect.fail(`element ${i}: got ${actual[i]}, expected ${expected[i]}`);
    }
  }
};

describe("creation", () => {
  test("nested arrays, typed arrays and shapes", async () => {
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    expect(t.shape).toEqual([2, 3]);
    expect(t.dtype).toBe("float32");
    expect(await t.toArray()).toEqual([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const i = tensor(new Int32Array([1, 2, 3, 4]), { shape: [2, 2] });
    expect(i.dtype).toBe("int32");
    expect(tensor([true, false]).dtype).toBe("bool");
    expect(Array.from(await zeros([2, 2]).data())).toEqual([0, 0, 0, 0]);
    expect(Array.from(await ones([3], { dtype: "int32" }).data())).toEqual([1, 1, 1]);
    expect(Array.from(await full([2], 7).data())).toEqual([7, 7]);
  });
  test("empty is shaped and typed like zeros, its contents unspecified until written", async () => {
    const e = empty([2, 3], { dtype: "int32" });
    expect([e.shape, e.dtype]).toEqual([[2, 3], "int32"]);
    expect(
      writeInto(
        e,
        tensor(
          [
            [1, 2, 3],
            [4, 5, 6],
          ],
          { dtype: "int32" },
        ),
      ),
    ).toBe(true);
    expect(Array.from(await e.data())).toEqual([1, 2, 3, 4, 5, 6]);
    // the CPU backend hands over memory as it is (no fill): here what a disposed tensor left
    const backend = new CpuBackend({ threads: 1 });
    const sevens = full([768], 7, { backend });
    sevens.dispose();
    expect(empty([768], { backend }).dataSync()[0]).toBe(7);
    // a backend that cannot hand out uninitialized memory gives zeros
    Object.defineProperty(backend, "allocateHost", { value: undefined });
    expect(Array.from(empty([3], { backend }).dataSync())).toEqual([0, 0, 0]);
    expect(Array.from(await empty([2], { dtype: "bool" }).data())).toEqual([0, 0]);
    backend.close();
  });
  test("arange follows torch's dtype rule", async () => {
    expect(arange(4).dtype).toBe("int32");
    expect(Array.from(await arange(4).data())).toEqual([0, 1, 2, 3]);
    expect(Array.from(await arange(1, 2, 0.25).data())).toEqual([1, 1.25, 1.5, 1.75]);
    expect(Array.from(await arange(5, 0, -2).data())).toEqual([5, 3, 1]);
  });
  test("seeded random numbers repeat and look right", async () => {
    const a = Array.from(await randn([10000], { seed: 42 }).data());
    const b = Array.from(await randn([10000], { seed: 42 }).data());
    expect(a).toEqual(b);
    const mean = a.reduce((s, v) => s + v, 0) / a.length;
    const variance = a.reduce((s, v) => s + (v - mean) ** 2, 0) / a.length;
    expect(Math.abs(mean)).toBeLessThan(0.05);
    expect(Math.abs(variance - 1)).toBeLessThan(0.05);
    const u = Array.from(await rand([1000], { rng: new Rng(3) }).data());
    expect(Math.min(...u)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...u)).toBeLessThan(1);
    expect(await randn([4], { seed: 1 }).data()).not.toEqual(await randn([4], { seed: 2 }).data());
  });
});

describe("elementwise and broadcasting", () => {
  test("numpy broadcasting", async () => {
    const a = tensor([[1], [2], [3]]);
    const b = tensor([10, 20]);
    const c = a.add(b);
    expect(c.shape).toEqual([3, 2]);
    expect(await c.toArray()).toEqual([
      [11, 21],
      [12, 22],
      [13, 23],
    ]);
    expect(await a.mul(2).sub(1).toArray()).toEqual([[1], [3], [5]]);
  });
  test("math functions", async () => {
    const x = tensor([-2, -0.5, 0, 0.5, 2]);
    const v = Array.from(await x.data());
    close(await x.exp().data(), v.map(Math.exp));
    close(await x.tanh().data(), v.map(Math.tanh));
    close(
      await x.sigmoid().data(),
      v.map((t) => 1 / (1 + Math.exp(-t))),
    );
    close(
      await x.silu().data(),
      v.map((t) => t / (1 + Math.exp(-t))),
    );
    close(
      await x.relu().data(),
      v.map((t) => Math.max(t, 0)),
    );
    // erf reference values (Abramowitz & Stegun table)
    close(await tensor([0.5, 1, 2]).erf().data(), [0.5204998778, 0.8427007929, 0.995322265], 1e-7);
    // exact GELU at 1: 0.5 * (1 + erf(1/sqrt 2)) = 0.8413447461
    close(await tensor([1, -1]).gelu().data(), [0.8413447461, -0.1586552539], 1e-6);
    const c = Math.sqrt(2 / Math.PI);
    close(
      await x.gelu("tanh").data(),
      v.map((t) => 0.5 * t * (1 + Math.tanh(c * (t + 0.044715 * t ** 3)))),
    );
    close(await tensor([4, 9]).sqrt().data(), [2, 3]);
    close(await tensor([4, 16]).rsqrt().data(), [0.5, 0.25]);
    close(
      await tensor([2, 3])
        .pow(tensor([3, 2]))
        .data(),
      [8, 9],
    );
  });
  test("int32 arithmetic stays int32; comparisons give bool", async () => {
    const a = arange(5);
    const b = a.mul(3).sub(2);
    expect(b.dtype).toBe("int32");
    expect(Array.from(await b.data())).toEqual([-2, 1, 4, 7, 10]);
    const m = a.gt(2);
    expect(m.dtype).toBe("bool");
    expect(Array.from(await m.data())).toEqual([0, 0, 0, 1, 1]);
    expect(Array.from(await m.logicalNot().logicalAnd(a.gt(0)).data())).toEqual([0, 1, 1, 0, 0]);
  });
  test("where and maskedFill broadcast", async () => {
    const x = tensor([
      [1, 2],
      [3, 4],
    ]);
    expect(await where(tensor([true, false]), x, 0).toArray()).toEqual([
      [1, 0],
      [3, 0],
    ]);
    expect(await x.maskedFill(tensor([[false], [true]]), -Infinity).toArray()).toEqual([
      [1, 2],
      [-Infinity, -Infinity],
    ]);
  });
  test("casts between every dtype", async () => {
    const x = tensor([1.5, -2.25, 65504, 0.1]);
    expect(Array.from(await x.int().data())).toEqual([1, -2, 65504, 0]);
    const h = x.cast("float16");
    expect(h.dtype).toBe("float16");
    expect(Array.from(await h.data())).toEqual([0x3e00, 0xc080, 0x7bff, 0x2e66]);
    close(await h.float().data(), [1.5, -2.25, 65504, 0.0999755859375], 0);
    const bf = x.cast("bfloat16");
    expect(Array.from(await bf.data())).toEqual([0x3fc0, 0xc010, 0x4780, 0x3dcd]);
    close(await bf.float().data(), [1.5, -2.25, 65536, 0.10009765625], 0);
    expect(Array.from(await tensor([0, 2, -1]).cast("bool").data())).toEqual([0, 1, 1]);
  });
});

describe("reductions", () => {
  const x = tensor([
    [1, 5, 3],
    [4, 2, 6],
  ]);
  test("sum, mean, max, min, prod along axes", async () => {
    expect(await x.sum().item()).toBe(21);
    expect(Array.from(await x.sum(0).data())).toEqual([5, 7, 9]);
    expect(await x.sum(1, true).toArray()).toEqual([[9], [12]]);
    expect(Array.from(await x.mean(1).data())).toEqual([3, 4]);
    expect(Array.from(await x.max(1).data())).toEqual([5, 6]);
    expect(Array.from(await x.min(0).data())).toEqual([1, 2, 3]);
    expect(Array.from(await x.prod(1).data())).toEqual([15, 48]);
    close(await x.var(1).data(), [8 / 3, 8 / 3]);
  });
  test("argmax picks the first of ties", async () => {
    expect(Array.from(await x.argmax(1).data())).toEqual([1, 2]);
    expect(
      Array.from(
        await tensor([[2, 7, 7]])
          .argmax(-1)
          .data(),
      ),
    ).toEqual([1]);
    expect(x.argmax(0, true).shape).toEqual([1, 3]);
  });
  test("cumsum", async () => {
    expect(await x.cumsum(1).toArray()).toEqual([
      [1, 6, 9],
      [4, 6, 12],
    ]);
    expect(await x.cumsum(0).toArray()).toEqual([
      [1, 5, 3],
      [5, 7, 9],
    ]);
  });
});

describe("softmax and norms", () => {
  test("softmax is stable and masks with -Infinity", async () => {
    const s = tensor([
      [1000, 1001, -Infinity],
      [-Infinity, -Infinity, -Infinity],
    ]).softmax();
    const e = Math.exp(1);
    close(await s.data(), [1 / (1 + e), e / (1 + e), 0, 0, 0, 0]);
    const ls = tensor([[1, 2, -Infinity]]).logSoftmax();
    const lse = Math.log(Math.exp(1) + Math.exp(2));
    close(Array.from(await ls.data()).slice(0, 2), [1 - lse, 2 - lse]);
    expect((await ls.data())[2]).toBe(-Infinity);
  });
  test("layerNorm and rmsNorm", async () => {
    const x = tensor([[1, 2, 3, 4]]);
    const mean = 2.5;
    const variance = 1.25;
    const w = tensor([1, 2, 1, 1]);
    const b = tensor([0, 0, 1, 0]);
    const expected = [1, 2, 3, 4].map((v, i) => ((v - mean) / Math.sqrt(variance + 1e-5)) * [1, 2, 1, 1][i]! + [0, 0, 1, 0][i]!);
    close(await x.layerNorm(w, b, 1e-5).data(), expected);
    const rms = Math.sqrt((1 + 4 + 9 + 16) / 4 + 1e-6);
    close(await x.rmsNorm(w, 1e-6).data(), [1 / rms, 4 / rms, 3 / rms, 4 / rms]);
  });
});

describe("matmul", () => {
  const naive = (a: number[][], b: number[][]) => a.map((row) => b[0]!.map((_, j) => row.reduce((s, v, k) => s + v * b[k]![j]!, 0)));
  test("2-D, batched with broadcast, vectors and transposed views", async () => {
    const a = [
      [1, 2, 3],
      [4, 5, 6],
    ];
    const b = [
      [1, 0],
      [0, 1],
      [2, 3],
    ];
    expect(await matmul(tensor(a), tensor(b)).toArray()).toEqual(naive(a, b));
    const batch = tensor([a, a.map((r) => r.map((v) => -v))]);
    expect(await batch.matmul(tensor(b)).toArray()).toEqual([naive(a, b), naive(a, b).map((r) => r.map((v) => -v))]);
    expect(await tensor([1, 2, 3]).matmul(tensor(b)).toArray()).toEqual([7, 11]);
    expect(
      await tensor(a)
        .matmul(tensor([1, 1, 1]))
        .toArray(),
    ).toEqual([6, 15]);
    expect(
      await tensor([1, 2])
        .matmul(tensor([3, 4]))
        .item(),
    ).toBe(11);
    const bt = tensor([
      [1, 0, 2],
      [0, 1, 3],
    ]).transpose();
    expect(await tensor(a).matmul(bt).toArray()).toEqual(naive(a, b));
  });
  test("larger random sizes agree with a naive loop", async () => {
    for (const [m, k, n] of [
      [17, 33, 9],
      [64, 64, 64],
      [5, 130, 70],
    ] as const) {
      const a = randn([m, k], { seed: m });
      const b = randn([k, n], { seed: n });
      const av = await a.data();
      const bv = await b.data();
      const expected = new Float64Array(m * n);
      for (let i = 0; i < m; i++)
        for (let j = 0; j < n; j++) {
          let s = 0;
          for (let p = 0; p < k; p++) s += av[i * k + p]! * bv[p * n + j]!;
          expected[i * n + j] = s;
        }
      close(await a.matmul(b).data(), expected, 1e-4);
    }
  });
});

describe("views copy only when they must", () => {
  test("reshape, transpose, slice, expand share storage", async () => {
    const x = arange(24).reshape(2, 3, 4);
    const t = x.transpose(0, 2);
    expect(t.shape).toEqual([4, 3, 2]);
    expect(t.storage).toBe(x.storage);
    expect(await t.slice(0, 1, 2).reshape(-1).toArray()).toEqual([1, 13, 5, 17, 9, 21]);
    const s = x.slice(2, 1, 4, 2);
    expect(s.storage).toBe(x.storage);
    expect(await s.toArray()).toEqual([
      [
        [1, 3],
        [5, 7],
        [9, 11],
      ],
      [
        [13, 15],
        [17, 19],
        [21, 23],
      ],
    ]);
    const e = tensor([[1], [2]]).expand(2, 3);
    expect(e.strides).toEqual([1, 0]);
    expect(await e.toArray()).toEqual([
      [1, 1, 1],
      [2, 2, 2],
    ]);
    expect(x.reshape(6, 4).storage).toBe(x.storage);
    // A transposed view must be copied to be reshaped.
    expect(t.reshape(-1).storage).not.toBe(x.storage);
  });
  test("reshape of a strided view stays a view where its dims split or merge in place (torch's view rule)", async () => {
    const x = arange(2 * 3 * 12).reshape(2, 3, 12);
    // a slice of the last axis split into heads: [2, 3, 4] -> [2, 3, 2, 2]
    const k = x.slice(-1, 4, 8);
    const heads = k.reshape(2, 3, 2, 2);
    expect(heads.storage).toBe(x.storage);
    expect(heads.strides).toEqual([36, 12, 2, 1]);
    expect(await heads.toArray()).toEqual(await k.contiguous().reshape(2, 3, 2, 2).toArray());
    // leading dims merged over a sliced inner axis, and size-1 dims anywhere
    const rows = k.reshape(6, 1, 4);
    expect(rows.storage).toBe(x.storage);
    expect(rows.strides[2]).toBe(1);
    expect(await rows.toArray()).toEqual(await k.contiguous().reshape(6, 1, 4).toArray());
    expect(x.slice(1, 1).reshape(2, 1, 2, 12).storage).toBe(x.storage);
    // merging across the slice's gap cannot be a view: copied
    const flat = k.reshape(24);
    expect(flat.storage).not.toBe(x.storage);
    expect(await flat.toArray()).toEqual(await k.contiguous().reshape(24).toArray());
    expect(await x.flip(2).reshape(6, 2, 6).toArray()).toEqual(await x.flip(2).contiguous().reshape(6, 2, 6).toArray());
  });
  test("the gradient of a slice is zeros with the slice's gradient in place", async () => {
    const x = arange(24).reshape(2, 12).float().requireGrad();
    const parts = [x.slice(-1, 0, 4), x.slice(-1, 4, 8), x.slice(-1, 8, 12, 2)];
    parts
      .map((p, i) => p.mul(i + 1).sum())
      .reduce((a, b) => a.add(b))
      .backward();
    const row = [1, 1, 1, 1, 2, 2, 2, 2, 3, 0, 3, 0];
    expect(Array.from(await x.grad!.reshape(-1).data())).toEqual([...row, ...row]);
  });
  test("negative indices, flip, squeeze, unsqueeze, flatten, permute", async () => {
    const x = arange(6).reshape(2, 3);
    expect(await x.slice(1, -2).toArray()).toEqual([
      [1, 2],
      [4, 5],
    ]);
    expect(await x.flip(1).toArray()).toEqual([
      [2, 1, 0],
      [5, 4, 3],
    ]);
    expect(await x.flip(0).flip(1).reshape(-1).toArray()).toEqual([5, 4, 3, 2, 1, 0]);
    expect(x.unsqueeze(0).unsqueeze(-1).shape).toEqual([1, 2, 3, 1]);
    expect(x.unsqueeze(0).unsqueeze(-1).squeeze().shape).toEqual([2, 3]);
    expect(arange(24).reshape(2, 3, 4).flatten(1).shape).toEqual([2, 12]);
    expect(await arange(24).reshape(2, 3, 4).permute(2, 0, 1).contiguous().slice(0, 1, 2).reshape(-1).toArray()).toEqual([
      1, 5, 9, 13, 17, 21,
    ]);
  });
  test("take, takeAlongAxis, concat, stack, split", async () => {
    const w = arange(12).reshape(4, 3);
    const ids = tensor(new Int32Array([3, 0, 3]), { shape: [1, 3] });
    expect(await w.take(ids).toArray()).toEqual([
      [
        [9, 10, 11],
        [0, 1, 2],
        [9, 10, 11],
      ],
    ]);
    expect(await w.take(tensor(new Int32Array([2, 0])), 1).toArray()).toEqual([
      [2, 0],
      [5, 3],
      [8, 6],
      [11, 9],
    ]);
    expect(await w.takeAlongAxis(tensor(new Int32Array([2, 1, 0, 1]), { shape: [4, 1] }), 1).toArray()).toEqual([[2], [4], [6], [10]]);
    expect(await concat([w.slice(0, 0, 1), w.slice(0, 3)], 0).toArray()).toEqual([
      [0, 1, 2],
      [9, 10, 11],
    ]);
    expect(stack([w, w], 1).shape).toEqual([4, 2, 3]);
    const [a, b] = split(w, [1, 2], 1);
    expect(await b!.toArray()).toEqual([
      [1, 2],
      [4, 5],
      [7, 8],
      [10, 11],
    ]);
    expect(a!.shape).toEqual([4, 1]);
  });
  test("triangular masks", async () => {
    expect(await causalMask(2, 4).toArray()).toEqual([
      [1, 1, 1, 0],
      [1, 1, 1, 1],
    ]);
    const x = ones([3, 3]);
    expect(await tril(x).toArray()).toEqual([
      [1, 0, 0],
      [1, 1, 0],
      [1, 1, 1],
    ]);
    expect(await triu(x, 1).toArray()).toEqual([
      [0, 1, 1],
      [0, 0, 1],
      [0, 0, 0],
    ]);
  });
});

describe("Rng", () => {
  test("fillNormal gives the numbers normal() gives, whatever the parity", () => {
    for (const [skip, n] of [
      [0, 7],
      [1, 6],
      [1, 5],
      [0, 0],
    ] as const) {
      const a = new Rng(9);
      const b = new Rng(9);
      for (let i = 0; i < skip; i++) {
        a.normal();
        b.normal();
      }
      const bulk = a.fillNormal(new Float32Array(n), 0.5, 2);
      const one = Float32Array.from({ length: n }, () => 0.5 + 2 * b.normal());
      expect(bulk).toEqual(one);
      expect(a.normal()).toBe(b.normal());
    }
  });
});

describe("writeInto", () => {
  test("writes into a slice in place, seen through every view of the storage, from strided sources", async () => {
    const { writeInto, zeros, arange, ArgumentError, DTypeError, ShapeError } = await import("../src/index.js");
    const buffer = zeros([2, 5, 3]);
    const view = buffer.slice(1, 0, 4);
    const src = arange(0, 12).float().reshape(3, 2, 2).permute(2, 0, 1); // [2, 3, 2]: strided
    const dst = buffer.slice(1, 1, 4).slice(2, 0, 2);
    expect(writeInto(dst, src)).toBe(true);
    const b = await buffer.data();
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let k = 0; k < 2; k++) expect(b[i * 15 + (j + 1) * 3 + k]).toBe((await src.data())[i * 6 + j * 2 + k]);
    expect(b[0]).toBe(0); // untouched elements stay
    // src[i][j][k] = 4j + 2k + i; through another view of the buffer, j = 0
    expect(Array.from(await view.slice(1, 1, 2).slice(2, 0, 2).data())).toEqual([0, 2, 1, 3]);
    expect(() => writeInto(zeros([2]).requireGrad(), zeros([2]))).toThrow(ArgumentError);
    expect(() => writeInto(zeros([2]), zeros([2], { dtype: "int32" }))).toThrow(DTypeError);
    expect(() => writeInto(zeros([2]), zeros([3]))).toThrow(ShapeError);
    expect(() => writeInto(zeros([1, 3]).expand(2, 3), zeros([2, 3]))).toThrow(/broadcast view/);
  });
});
