import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { getLlama, type Llama } from "node-llama-cpp";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CpuBackend, fromBuffer, getBackend, noGrad, QUANT_BLOCKS, tensor, type QuantizedDType, type Tensor } from "@llm/tensor";
import { openGGUFFile } from "@llm/tensor/node";
import { fromGGUFMetadata, toGGUFMetadata } from "@llm/tokenizer";
import { createModel, type Model } from "@llm/models";
import { loadGGUF, saveGGUF } from "@llm/models/node";
import { CONFIG } from "./golden/llama_quantize/weights.mjs";
import { compareWithLlamaCpp, logSoftmax } from "./llamacpp_compare.js";

/**
 * llama.cpp's lattice types (IQ1_S, IQ1_M, IQ2_XXS, IQ2_XS, IQ2_S, IQ3_XXS, IQ3_S: the types of
 * llama-quantize's IQ1/IQ2/IQ3 files), read as stored and run as llama.cpp runs them. IQ3_S from
 * llama-quantize itself (golden/llama_quantize/llama_iq3_m.gguf, its IQ3_M mix); the others need an
 * importance matrix there, so their blocks are random bytes with sane scales, written by us as GGUF
 * and run by both. Our dequantizers equal gguf-py's (tensor package, quant_golden.test.ts).
 */
const GOLDEN = fileURLToPath(new URL("./golden/llama_quantize/", import.meta.url));
const ggml = new CpuBackend({ activationRounding: "ggml" });
const scratch = mkdtempSync(join(tmpdir(), "llm-iq-lattice-"));
const PROMPT = [1, 17, 42, 99, 250, 7, 64, 128];
/** Log-probabilities within this of llama.cpp's (the 3e-3). */
const TOLERANCE = 3e-3;
let llama: Llama;
let tokenizer: ReturnType<typeof toGGUFMetadata>;

beforeAll(async () => {
  llama = await getLlama({ gpu: false, build: "never", logLevel: "error" as never });
  tokenizer = toGGUFMetadata(fromGGUFMetadata((await loadGGUF(join(GOLDEN, "llama_q4_k_m.gguf"))).metadata));
});
afterAll(async () => {
  await llama?.dispose();
  rmSync(scratch, { recursive: true, force: true });
});

describe("llama_iq3_m.gguf (llama-quantize's IQ3_M)", () => {
  it("holds IQ3_S with Q4_K where the mix gives it, read as stored; llama.cpp gives our greedy tokens and log-probs", async () => {
    const path = join(GOLDEN, "llama_iq3_m.gguf");
    const gguf = await openGGUFFile(path);
    const types = Object.fromEntries([...gguf.tensors].map(([name, info]) => [name, info.dtype]));
    expect(types["token_embd.weight"]).toBe("iq3_s");
    expect(types["blk.0.attn_q.weight"]).toBe("iq3_s");
    expect(types["blk.1.ffn_down.weight"]).toBe("iq3_s");
    expect(types["blk.0.attn_v.weight"]).toBe("q4_k");
    expect(types["blk.0.attn_output.weight"]).toBe("q4_k");
    expect(types["output.weight"]).toBe("q6_k");
    const { model } = await loadGGUF(path, { backend: ggml });
    try {
      expect(model.stateDict()["model.layers.0.self_attn.q_proj.weight"]!.dtype).toBe("iq3_s");
      const { ours, theirs, worst } = await compareWithLlamaCpp(llama, model, path, PROMPT, ggml);
      console.log(`llama_iq3_m: greedy ${JSON.stringify(ours)}, llama.cpp ${JSON.stringify(theirs)}, worst ${worst.toExponential(2)}`);
      expect(theirs).toEqual(ours);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      model.dispose();
    }
  });
});

/** xorshift32 bytes: the same blocks on every run. */
function randomBytes(count: number, seed: number): Uint8Array {
  const out = new Uint8Array(count);
  let s = seed;
  for (let i = 0; i < count; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 255;
  }
  return out;
}

/** Random blocks of `dtype` with each block's float16 d set to about 1e-3 (IQ1_M keeps it in its scale words' top nibbles). */
function randomWeight(dtype: QuantizedDType, shape: readonly number[], seed: number): Tensor {
  const { elements, bytes } = QUANT_BLOCKS[dtype];
  const blocks = (shape[0]! * shape[1]!) / elements;
  const data = randomBytes(blocks * bytes, seed);
  for (let b = 0; b < blocks; b++) {
    const o = b * bytes;
    const d = 0x1400 | (data[o + 7]! & 0xff); // float16 between 2^-10 and 2^-9.5
    if (dtype === "iq1_m")
      for (let k = 0; k < 4; k++) data[o + 49 + 2 * k] = (data[o + 49 + 2 * k]! & 0x0f) | (((d >>> (4 * k)) & 15) << 4);
    else [data[o], data[o + 1]] = [d & 255, d >>> 8];
  }
  const backend = getBackend();
  return fromBuffer(backend, backend.upload(data, dtype), [...shape], dtype);
}

/**
 * How far our own log-probabilities over the prompt move when the token embedding is nudged by up to
 * three float32 ulps (three patterns): the size of a last-bit difference once llama.cpp's rounding
 * of activations to Q8_K (activationRounding "ggml") has acted on it. Where an activation sits on a
 * rounding boundary, a summation order of llama.cpp's own moves the result as much; a comparison
 * with llama.cpp then measures that boundary, not the kernels.
 */
async function nudgedMove(path: string): Promise<number> {
  const { model } = await loadGGUF(path, { backend: ggml });
  try {
    const run = async (): Promise<Float64Array[]> => {
      const logits = (await noGrad(() => model.forward(tensor([PROMPT], { dtype: "int32", backend: ggml })).data())) as Float32Array;
      const vocab = logits.length / PROMPT.length;
      return PROMPT.map((_, r) => logSoftmax(logits.subarray(r * vocab, (r + 1) * vocab)));
    };
    const base = await run();
    const embedding = model.stateDict()["model.embed_tokens.weight"]!;
    const values = (await embedding.data()) as Float32Array;
    let worst = 0;
    for (const k of [3, 5, 7]) {
      const nudged = Float32Array.from(values, (v, i) => v * (1 + ((((i * k * 2654435761) >>> 0) % 7) - 3) * 2 ** -23));
      embedding.replaceWith(tensor(nudged, { shape: embedding.shape, backend: ggml }));
      const moved = await run();
      moved.forEach((row, r) => row.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - base[r]![i]!)))));
    }
    return worst;
  } finally {
    model.dispose();
  }
}

/**
 * The random blocks' seed. These random models often put an activation on a Q8_K rounding boundary:
 * with seed 0 one IQ3_S activation sat on one at prompt position 6, where nudging our embedding by
 * up to 3 ulps moved our own log-probs by 1.9e-2 in 6 patterns of 10: exactly the 1.9e-2 between us
 * and llama.cpp after a 7-token prompt (one token at a time both agreed within 1e-6). Of seeds 2-9,
 * each put such a boundary in one to three of the seven files, but seed 6 in none; the test checks
 * that it still puts none, so that the comparison measures the kernels.
 */
const SEED = 6;

const MATRICES = /\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)\.weight$/;

describe.each(["iq2_xxs", "iq2_xs", "iq2_s", "iq3_xxs", "iq3_s", "iq1_s", "iq1_m"] as const)("%s (random blocks)", (dtype) => {
  it("a llama whose matrices are all in it, written by us as GGUF: read back as stored, llama.cpp gives our greedy tokens and log-probs", async () => {
    const model: Model = createModel(CONFIG);
    let seed = 1;
    for (const [key, p] of Object.entries(model.stateDict()))
      if (MATRICES.test(key)) p.replaceWith(randomWeight(dtype, p.shape, seed++ * 7919 + SEED));
    expect(seed - 1).toBe(14);
    const path = join(scratch, `${dtype}.gguf`);
    await saveGGUF(model, path, { tokenizer });
    model.dispose();
    const gguf = await openGGUFFile(path);
    expect(gguf.tensors.get("blk.1.ffn_down.weight")!.dtype).toBe(dtype);
    expect(await nudgedMove(path), "our log-probs' move under last-bit nudges (a rounding boundary if large)").toBeLessThan(1e-5);
    const { model: back } = await loadGGUF(path, { backend: ggml });
    try {
      expect(back.stateDict()["model.layers.1.mlp.down_proj.weight"]!.dtype).toBe(dtype);
      const { ours, theirs, worst } = await compareWithLlamaCpp(llama, back, path, PROMPT, ggml);
      console.log(`${dtype} random: greedy ${JSON.stringify(ours)}, llama.cpp ${JSON.stringify(theirs)}, worst ${worst.toExponential(2)}`);
      expect(theirs).toEqual(ours);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    } finally {
      back.dispose();
    }
  });
});
