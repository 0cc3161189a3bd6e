import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { dequantizeBlocks, QUANT_BLOCKS, quantizeBlocks, quantizeTensor, tensor, type GGUFFile, type QuantizedDType } from "@llm/tensor";
import { openGGUFFile } from "@llm/tensor/node";

/**
 * Our Q8_0 / Q4_0 quantizers against llama.cpp's Python package on the same float32 rows (fixture
 * weights and edge cases), and our Q4_K / Q5_K / Q6_K dequantizers against its values:
 * golden/quant_golden.gguf and golden/q5_k_golden.gguf, written by golden/make_quant_golden.py and
 * make_q5_k_golden.py (read here by our own GGUF reader); Q4_1 / Q5_1 both ways against
 * golden/q4_1_q5_1_golden.gguf (make_q4_1_q5_1_golden.py); Q2_K / Q3_K dequantizers against
 * golden/q2_k_q3_k_golden.gguf (make_q2_k_q3_k_golden.py); IQ4_NL / IQ4_XS dequantizers against
 * golden/iq4_golden.gguf (make_iq4_golden.py); the IQ1/IQ2/IQ3 lattice types' dequantizers against
 * golden/iq_lattice_golden.gguf (make_iq_lattice_golden.py).
 */
const GOLDEN = fileURLToPath(new URL("./golden/quant_golden.gguf", import.meta.url));
const Q5_K_GOLDEN = fileURLToPath(new URL("./golden/q5_k_golden.gguf", import.meta.url));
const Q4_1_Q5_1_GOLDEN = fileURLToPath(new URL("./golden/q4_1_q5_1_golden.gguf", import.meta.url));
const Q2_K_Q3_K_GOLDEN = fileURLToPath(new URL("./golden/q2_k_q3_k_golden.gguf", import.meta.url));
const IQ4_GOLDEN = fileURLToPath(new URL("./golden/iq4_golden.gguf", import.meta.url));
const IQ_LATTICE_GOLDEN = fileURLToPath(new URL("./golden/iq_lattice_golden.gguf", import.meta.url));

/** The worst |a - b| / max(1e-6, |b|): K-quant values agree up to the order of float32 roundings. */
function worstRelative(ours: Float32Array, expected: Float32Array): number {
  let worst = 0;
  for (let i = 0; i < ours.length; i++) worst = Math.max(worst, Math.abs(ours[i]! - expected[i]!) / Math.max(1e-6, Math.abs(expected[i]!)));
  return worst;
}

/**
 * Tensor `name` (6 rows of 768 values of `type`) of a golden file, dequantized by us, against gguf-py's
 * values beside it (`name.f32`): within 1e-6 relative, its third block all zero, and flipping bits
 * of each byte `parts` of its fourth block changes that block's values (so every part of a block is
 * read). Returns gguf-py's values.
 */
async function expectGgufValues(path: string, name: string, type: QuantizedDType, parts: readonly number[]): Promise<Float32Array> {
  const { elements, bytes } = QUANT_BLOCKS[type];
  const golden = await openGGUFFile(path);
  const q = await golden.readTensor(name);
  expect(q.dtype).toBe(type);
  expect(q.shape).toEqual([6, 768]);
  const ours = (await q.cast("float32").data()) as Float32Array;
  const expected = (await (await golden.readTensor(`${name}.f32`)).data()) as Float32Array;
  expect(ours.length).toBe(expected.length);
  expect(worstRelative(ours, expected), "worst relative difference").toBeLessThanOrEqual(1e-6);
  expect(expected.subarray(2 * elements, 3 * elements).every((v) => v === 0)).toBe(true);
  const raw = (await q.data()) as Uint8Array;
  for (const at of parts) {
    const block = raw.slice(3 * bytes, 4 * bytes);
    block[at] = block[at]! ^ 0x5a;
    const changed = new Float32Array(elements);
    dequantizeBlocks(type, block, 0, elements, changed, 0);
    expect(Array.from(changed), `byte ${at} changed`).not.toEqual(Array.from(expected.subarray(3 * elements, 4 * elements)));
  }
  return expected;
}

let file: GGUFFile;
beforeAll(async () => {
  file = await openGGUFFile(GOLDEN);
});

async function bytesOf(name: string): Promise<Uint8Array> {
  return (await (await file.readTensor(name)).data()) as Uint8Array;
}

describe.each(["llama_q_proj", "llama_down_proj", "edge"])("%s", (name) => {
  for (const type of ["q8_0", "q4_0"] as const) {
    it(`${type}: the same bytes as gguf-py (llama.cpp's reference rows)`, async () => {
      const source = await file.readTensor(`${name}.f32`);
      const expected = await bytesOf(`${name}.${type}`);
      expect(file.tensors.get(`${name}.${type}`)!.dtype).toBe(type);
      expect(file.tensors.get(`${name}.${type}`)!.shape).toEqual(source.shape);
      const values = (await source.data()) as Float32Array;
      const ours = new Uint8Array(expected.length);
      quantizeBlocks(type, values, 0, values.length, ours, 0);
      const firstDifference = ours.findIndex((b, i) => b !== expected[i]);
      expect(firstDifference, `first differing byte of ${expected.length}`).toBe(-1);
      // and through the tensor API, which quantizes along the last axis by default
      const q = await quantizeTensor(source, type);
      expect(q.dtype).toBe(type);
      expect(Array.from((await q.data()) as Uint8Array)).toEqual(Array.from(expected));
    });
  }
});

describe("reading llama.cpp blocks", () => {
  for (const type of ["q8_0", "q4_0", "q4_k", "q6_k"] as const) {
    it(`${type}: dequantized as gguf-py does (our reader, our kernels)`, async () => {
      const name = type.endsWith("_k") ? `kquant.${type}` : `llama_q_proj.${type}`;
      const q = await file.readTensor(name);
      expect(q.dtype).toBe(type);
      const ours = (await q.cast("float32").data()) as Float32Array;
      let expected: Float32Array;
      if (type.endsWith("_k")) {
        expected = (await (await file.readTensor(`${name}.f32`)).data()) as Float32Array;
      } else {
        // Q8_0 / Q4_0 values are exactly scale * level: compare with the float32 source within a level
        expected = (await (await file.readTensor("llama_q_proj.f32")).data()) as Float32Array;
      }
      expect(ours.length).toBe(expected.length);
      if (type.endsWith("_k")) {
        // the same values up to the order of float32 roundings
        expect(worstRelative(ours, expected), "worst relative difference").toBeLessThanOrEqual(1e-6);
      } else {
        // each value within its block's step of the source: half a level (Q8_0), a level (Q4_0 clamps +8
        // to +7), plus the float16 rounding of the scale times the largest level (127 or 8, 2^-11 each)
        for (let b = 0; b < ours.length; b += 32) {
          const amax = Math.max(...expected.subarray(b, b + 32).map(Math.abs));
          const step = type === "q8_0" ? (amax / 127) * (0.5 + 127 / 2048) : (amax / 8) * (1 + 8 / 2048);
          for (let i = b; i < b + 32; i++) expect(Math.abs(ours[i]! - expected[i]!)).toBeLessThanOrEqual(step + 1e-9);
        }
      }
    });
  }

  it("q5_k: dequantized as gguf-py does, subnormal d and dmin, zero dmin and all-zero blocks included", async () => {
    const golden = await openGGUFFile(Q5_K_GOLDEN);
    const q = await golden.readTensor("kquant.q5_k");
    expect(q.dtype).toBe("q5_k");
    expect(q.shape).toEqual([6, 768]);
    const ours = (await q.cast("float32").data()) as Float32Array;
    const expected = (await (await golden.readTensor("kquant.q5_k.f32")).data()) as Float32Array;
    expect(ours.length).toBe(expected.length);
    expect(worstRelative(ours, expected), "worst relative difference").toBeLessThanOrEqual(1e-6);
    // the fifth bit counts: values of 16 and more are there, and dropping them changes the result
    const asQ4 = new Float32Array(256);
    const raw = (await q.data()) as Uint8Array;
    const withoutHighBits = raw.slice(3 * 176, 4 * 176).fill(0, 16, 48);
    dequantizeBlocks("q5_k", withoutHighBits, 0, 256, asQ4, 0);
    expect(Array.from(asQ4)).not.toEqual(Array.from(expected.subarray(3 * 256, 4 * 256)));
  });

  // every part of the block moves the values: the scale nibbles / 6-bit scales, Q2_K's mins, Q3_K's
  // high bits, the quants; a decoder that misplaced one would differ from gguf's somewhere
  it.each([
    ["q2_k", [0, 16, 80]],
    ["q3_k", [0, 32, 96, 104]],
  ] as const)("%s: dequantized as gguf-py does, subnormal scales and all-zero blocks included", async (type, parts) => {
    await expectGgufValues(Q2_K_Q3_K_GOLDEN, `kquant.${type}`, type, parts);
  });

  // IQ4_XS: its scale bits (bytes 2-7) and nibbles (8-) move the values; IQ4_NL: its nibbles
  it.each([
    ["iq4_nl", [2, 17]],
    ["iq4_xs", [2, 3, 4, 7, 8, 100]],
  ] as const)("%s: dequantized as gguf-py does, a subnormal scale and an all-zero block included", async (type, parts) => {
    await expectGgufValues(IQ4_GOLDEN, `iquant.${type}`, type, parts);
  });

  // every part of a block moves its values: the scale, grid indices, their high bits, signs, sub-block scales
  it.each([
    ["iq2_xxs", [1, 2, 6, 9]],
    ["iq2_xs", [1, 2, 3, 66]],
    ["iq2_s", [1, 2, 34, 66, 74]],
    ["iq3_xxs", [1, 2, 66, 69]],
    ["iq3_s", [1, 2, 66, 74, 106]],
    ["iq1_s", [1, 2, 34, 35]],
    ["iq1_m", [0, 32, 48, 49]],
  ] as const)("%s: dequantized as gguf-py does, a subnormal scale and an all-zero block included", async (type, parts) => {
    const expected = await expectGgufValues(IQ_LATTICE_GOLDEN, `iquant.${type}`, type, parts);
    expect(
      expected.subarray(0, 256).some((v) => v !== 0 && Math.abs(v) < 1e-4),
      "the subnormal-scale block",
    ).toBe(true);
  });

  it("the lattice types are read only: quantizing to one names it and the types we write", async () => {
    const t = tensor(new Float32Array(256).fill(1), { shape: [1, 256] });
    await expect(quantizeTensor(t, "iq2_xxs")).rejects.toThrow(/iq2_xxs is read only.*q8_0/);
    expect(() => quantizeBlocks("iq3_s", new Float32Array(256), 0, 256, new Uint8Array(110))).toThrow(/iq3_s is read only/);
  });

  it("take of a quantized table gives the rows dequantized, as a cast does", async () => {
    const q = await file.readTensor("kquant.q6_k");
    const rows = q.take(tensor([3, 0, 3], { dtype: "int32" }), 0);
    expect(rows.dtype).toBe("float32");
    const all = (await q.cast("float32").data()) as Float32Array;
    const cols = q.shape[1]!;
    const got = (await rows.data()) as Float32Array;
    expect(Array.from(got.subarray(0, cols))).toEqual(Array.from(all.subarray(3 * cols, 4 * cols)));
    expect(Array.from(got.subarray(cols, 2 * cols))).toEqual(Array.from(all.subarray(0, cols)));
  });
});

describe("Q6_K quantization (llama.cpp's reference search; gguf-py has no Q6_K quantizer to compare bytes with)", () => {
  it("round-trips the fixture weights within Q6_K's step", async () => {
    const source = (await (await file.readTensor("llama_down_proj.f32")).data()) as Float32Array;
    const n = Math.floor(source.length / 256) * 256;
    const blocks = new Uint8Array((n / 256) * 210);
    quantizeBlocks("q6_k", source, 0, n, blocks, 0);
    const back = new Float32Array(n);
    dequantizeBlocks("q6_k", blocks, 0, n, back, 0);
    let err = 0;
    let norm = 0;
    for (let i = 0; i < n; i++) {
      err += (back[i]! - source[i]!) ** 2;
      norm += source[i]! ** 2;
    }
    // 6 bits: relative RMS error about 1%; Q4_0 on the same rows is about 8%
    expect(Math.sqrt(err / norm)).toBeLessThan(0.02);
  });
});

it("refuses rows that are not whole blocks, naming the sizes", async () => {
  const t = tensor([[1, 2, 3]]);
  await expect(quantizeTensor(t, "q8_0" as QuantizedDType)).rejects.toThrow(/blocks of 32 values; axis 1 has 3/);
});

describe.each(["llama_q_proj", "edge"])("Q4_1 / Q5_1, %s", (name) => {
  let golden: GGUFFile;
  beforeAll(async () => {
    golden = await openGGUFFile(Q4_1_Q5_1_GOLDEN);
  });
  for (const type of ["q4_1", "q5_1"] as const) {
    it(`${type}: gguf-py's bytes from the same rows, and its values read back, bit for bit`, async () => {
      const source = (await (await golden.readTensor(`${name}.f32`)).data()) as Float32Array;
      const q = await golden.readTensor(`${name}.${type}`);
      expect(q.dtype).toBe(type);
      const expected = (await q.data()) as Uint8Array;
      const ours = new Uint8Array(expected.length);
      quantizeBlocks(type, source, 0, source.length, ours, 0);
      const firstDifference = ours.findIndex((b, i) => b !== expected[i]);
      expect(firstDifference, `first differing byte of ${expected.length}`).toBe(-1);
      const values = (await q.cast("float32").data()) as Float32Array;
      const want = (await (await golden.readTensor(`${name}.${type}.dequantized`)).data()) as Float32Array;
      expect(Array.from(values)).toEqual(Array.from(want));
    });
  }
});
