/** Backend.writeInto on WebGPU: a strided source into a slice of an existing buffer, in place. */
import { describe, expect, it } from "vitest";
import { arange, cpuBackend, Rng, scaledDotProductAttention, tensor, writeInto, zeros } from "@llm/tensor";
import { backend, reportSkip } from "./helpers/gpu.js";

reportSkip();

describe.skipIf(!backend)("webgpu writeInto", () => {
  it("writes a transposed source into part of a buffer; the rest keeps its values", async () => {
    const b = backend!;
    const buffer = tensor(
      Array.from({ length: 30 }, (_, i) => -i),
      { shape: [2, 5, 3], backend: b },
    );
    const src = arange(0, 12, 1, { backend: b }).float().reshape(3, 2, 2).permute(2, 0, 1); // [2, 3, 2], src[i][j][k] = 4j + 2k + i
    expect(writeInto(buffer.slice(1, 1, 4).slice(2, 0, 2), src)).toBe(true);
    const got = Array.from(await buffer.data());
    const want = Array.from({ length: 30 }, (_, n) => {
      const [i, j, k] = [Math.floor(n / 15), Math.floor(n / 3) % 5, n % 3];
      return j >= 1 && j < 4 && k < 2 ? 4 * (j - 1) + 2 * k + i : -n;
    });
    expect(got).toEqual(want);
    const halves = zeros([4], { dtype: "float16", backend: b });
    writeInto(halves.slice(0, 1, 3), tensor([1.5, -2], { backend: b }).cast("float16"));
    expect(Array.from(await halves.cast("float32").data())).toEqual([0, 1.5, -2, 0]);
  });

  for (const dtype of ["float16", "bfloat16"] as const) {
    it(`rounds float32 into ${dtype} as the CPU backend's cast does (a half KV cache's writes)`, async () => {
      const b = backend!;
      const rng = new Rng(3);
      const values = [...Array.from({ length: 200 }, () => rng.normal() * 4), 1 + 2 ** -11, 1 + 3 * 2 ** -11, 65520, 1e-7, -0, 3e38];
      const n = values.length;
      const buffer = zeros([n, 2], { dtype, backend: b });
      expect(writeInto(buffer.narrow(1, 1, 1), tensor(values, { shape: [n, 1], backend: b }))).toBe(true);
      const got = Array.from(await buffer.narrow(1, 1, 1).contiguous().cast("float32").data());
      const want = Array.from(
        tensor(values, { shape: [n, 1], backend: cpuBackend })
          .cast(dtype)
          .cast("float32")
          .dataSync(),
      );
      expect(got).toEqual(want);
      expect(Array.from(await buffer.narrow(1, 0, 1).contiguous().cast("float32").data())).toEqual(new Array(n).fill(0));
    });
  }

  it("attention over float16 keys and values: the result over their float32 values (widened first)", async () => {
    const b = backend!;
    const rng = new Rng(4);
    const normals = (n: number) => Array.from({ length: n }, () => rng.normal());
    const q = tensor(normals(4 * 3 * 16), { shape: [1, 4, 3, 16], backend: b });
    const k = tensor(normals(2 * 9 * 16), { shape: [1, 2, 9, 16], backend: b }).cast("float16");
    const v = tensor(normals(2 * 9 * 16), { shape: [1, 2, 9, 16], backend: b }).cast("float16");
    const half = await scaledDotProductAttention(q, k, v).data();
    const widened = await scaledDotProductAttention(q, k.float(), v.float()).data();
    expect(Array.from(half)).toEqual(Array.from(widened));
  });
});
