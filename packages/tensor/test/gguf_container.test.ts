import { describe, expect, it } from "vitest";
import { checkpointFilesFromBytes, ggufTensor, openGGUF, serializeGGUF, tensor, type GGUFValue } from "@llm/tensor";

/** The GGUF container on its own: a header far larger than one write chunk (a 50K-token vocabulary), every value type, read back. */
describe("GGUF container", () => {
  it("writes and reads back a large header with every metadata type", async () => {
    const tokens = Array.from({ length: 50000 }, (_, i) => `token-${i}-${"é".repeat(i % 7)}`);
    const metadata = new Map<string, GGUFValue>([
      ["general.architecture", { type: "string", value: "test" }],
      ["a.u8", { type: "uint8", value: 200 }],
      ["a.i8", { type: "int8", value: -100 }],
      ["a.u16", { type: "uint16", value: 60000 }],
      ["a.i16", { type: "int16", value: -30000 }],
      ["a.u32", { type: "uint32", value: 4000000000 }],
      ["a.i32", { type: "int32", value: -2000000000 }],
      ["a.f32", { type: "float32", value: 1e-5 }],
      ["a.bool", { type: "bool", value: true }],
      ["a.u64", { type: "uint64", value: 2 ** 40 }],
      ["a.i64", { type: "int64", value: -(2 ** 40) }],
      ["a.f64", { type: "float64", value: Math.PI }],
      ["tokenizer.ggml.tokens", { type: "array", itemType: "string", value: tokens }],
      ["a.ints", { type: "array", itemType: "int32", value: [1, -2, 3] }],
    ]);
    const t = tensor([
      [1, 2, 3],
      [4, 5, 6],
    ]);
    const bytes = await serializeGGUF(metadata, [ggufTensor("w", t)]);
    expect(String.fromCharCode(...bytes.subarray(0, 4))).toBe("GGUF");
    const file = await openGGUF(checkpointFilesFromBytes({ "m.gguf": bytes }), "m.gguf");
    for (const [key, v] of metadata) {
      if (key === "tokenizer.ggml.tokens") continue;
      expect(file.metadata.get(key), key).toEqual(v.value);
    }
    expect(file.metadata.get("tokenizer.ggml.tokens")).toEqual(tokens);
    expect(file.tensors.get("w")!.shape).toEqual([2, 3]);
    expect(Array.from((await (await file.readTensor("w")).data()) as Float32Array)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it("names what is wrong with a file", async () => {
    const files = checkpointFilesFromBytes({ "x.gguf": new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9]) });
    await expect(openGGUF(files, "x.gguf")).rejects.toThrow(/x.gguf: expected a GGUF file/);
    const good = await serializeGGUF(new Map(), [ggufTensor("w", tensor([1, 2, 3, 4]))]);
    const cut = checkpointFilesFromBytes({ "cut.gguf": good.subarray(0, good.length - 20) });
    await expect(openGGUF(cut, "cut.gguf")).rejects.toThrow(/tensor "w" runs past the end of the file/);
  });

  it("names a tensor type we do not read, and the types we do", async () => {
    const bytes = await serializeGGUF(new Map(), [ggufTensor("blk.0.ffn_down.weight", tensor(new Float32Array(256)))]);
    // the tensor's ggml type follows its name, rank (u32) and one dim (u64): F32 (0) becomes TQ1_0 (34)
    const name = new TextEncoder().encode("blk.0.ffn_down.weight");
    const at = bytes.findIndex((_, i) => name.every((c, j) => bytes[i + j] === c)) + name.length + 4 + 8;
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint32(at, true)).toBe(0);
    new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, 34, true);
    const file = await openGGUF(checkpointFilesFromBytes({ "m.gguf": bytes }), "m.gguf");
    expect(file.tensors.get("blk.0.ffn_down.weight")!.type).toBe("TQ1_0");
    await expect(file.readTensor("blk.0.ffn_down.weight")).rejects.toThrow(
      'm.gguf: tensor "blk.0.ffn_down.weight" is TQ1_0, which we do not read (we read F32, F16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K, IQ2_XXS, IQ2_XS, IQ3_XXS, IQ1_S, IQ4_NL, IQ3_S, IQ2_S, IQ4_XS, I32, IQ1_M, BF16)',
    );
  });
});
