/** Backend.writeInto on WebGPU: a strided source into a slice of an existing buffer, in place. */
import { describe, expect, it } from "vitest";
import { arange, tensor, writeInto, zeros } from "@llm/tensor";
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
});
