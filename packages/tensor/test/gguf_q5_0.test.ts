import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { quantizeBlocks } from "@llm/tensor";
import { openGGUFFile } from "@llm/tensor/node";

/**
 * Q5_0 tensors, both ways: golden/q5_0_golden.gguf holds Q5_0 blocks as llama.cpp's Python package
 * (gguf) quantizes fixture rows and edge rows, and gguf's own dequantization of them
 * (golden/make_q5_0_golden.py); the rows themselves are golden/quant_golden.gguf's (the same
 * sources). We read the blocks as stored and give gguf's values bit for bit, and our quantizer gives
 * its bytes.
 */
const GOLDEN = fileURLToPath(new URL("./golden/q5_0_golden.gguf", import.meta.url));
const SOURCES = fileURLToPath(new URL("./golden/quant_golden.gguf", import.meta.url));

describe("GGUF Q5_0", () => {
  for (const name of ["llama_q_proj", "edge"]) {
    it(`${name}: read as stored with gguf's values, and quantized to gguf's bytes`, async () => {
      const file = await openGGUFFile(GOLDEN);
      const info = file.tensors.get(`${name}.q5_0`)!;
      expect(info.type).toBe("Q5_0");
      expect(info.dtype).toBe("q5_0");
      const expected = (await (await file.readTensor(`${name}.q5_0.f32`)).data()) as Float32Array;
      const q = await file.readTensor(`${name}.q5_0`);
      expect(q.dtype).toBe("q5_0");
      expect(q.shape).toEqual(info.shape);
      const values = q.cast("float32").dataSync() as Float32Array;
      const firstDifference = values.findIndex((v, i) => !Object.is(v, expected[i]));
      expect(firstDifference, `first differing value of ${expected.length}`).toBe(-1);
      const source = (await (await (await openGGUFFile(SOURCES)).readTensor(`${name}.f32`)).data()) as Float32Array;
      const blocks = (await q.data()) as Uint8Array;
      const ours = new Uint8Array(blocks.length);
      quantizeBlocks("q5_0", source, 0, source.length, ours, 0);
      expect(
        ours.findIndex((b, i) => b !== blocks[i]),
        `first differing byte of ${blocks.length}`,
      ).toBe(-1);
    });
  }
});
