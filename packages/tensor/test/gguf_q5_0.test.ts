import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { dequantizeBlocks } from "@llm/tensor";
import { openGGUFFile } from "@llm/tensor/node";

/**
 * Q5_0 tensors, read by widening each block to Q8_0: golden/q5_0_golden.gguf holds Q5_0 blocks as
 * llama.cpp's Python package (gguf) quantizes fixture rows and edge rows, and gguf's own
 * dequantization of them (golden/make_q5_0_golden.py). The values we read are those, bit for bit.
 */
const GOLDEN = fileURLToPath(new URL("./golden/q5_0_golden.gguf", import.meta.url));

describe("GGUF Q5_0, read as Q8_0", () => {
  for (const name of ["llama_q_proj", "edge"]) {
    it(`${name}: gguf's dequantized values, bit for bit`, async () => {
      const file = await openGGUFFile(GOLDEN);
      const info = file.tensors.get(`${name}.q5_0`)!;
      expect(info.type).toBe("Q5_0");
      expect(info.dtype).toBe("q8_0");
      const expected = (await (await file.readTensor(`${name}.q5_0.f32`)).data()) as Float32Array;
      const q = await file.readTensor(`${name}.q5_0`);
      expect(q.dtype).toBe("q8_0");
      expect(q.shape).toEqual(info.shape);
      expect((info.end - info.begin) / (q.size / 32)).toBe(22); // the file's blocks are Q5_0's 22 bytes
      const blocks = (await q.data()) as Uint8Array;
      const ours = new Float32Array(q.size);
      dequantizeBlocks("q8_0", blocks, 0, q.size, ours, 0);
      const firstDifference = ours.findIndex((v, i) => !Object.is(v, expected[i]));
      expect(firstDifference, `first differing value of ${expected.length}`).toBe(-1);
      // through the tensor API too
      expect(Array.from(q.cast("float32").dataSync())).toEqual(Array.from(expected));
    });
  }
});
