import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { parseSafetensors, serializeSafetensors, safetensorsEntryToHost } from "../src/safetensors/index.js";
import { atOddOffset, elementByHand, MODELS_DIR, modelNames, readHeaderByHand } from "./safetensors-helpers.js";

const FILES = ["model.safetensors", "grads.safetensors", "reference.safetensors"] as const;

/** Where each checkpoint keeps its token embedding ([vocab_size, hidden]). */
const EMBEDDING: Record<string, string> = {
  bloom: "transformer.word_embeddings.weight",
  falcon: "transformer.word_embeddings.weight",
  glm: "word_embeddings.weight",
  gpt2: "transformer.wte.weight",
  gpt_neox: "gpt_neox.embed_in.weight",
  gptj: "transformer.wte.weight",
  llama: "model.embed_tokens.weight",
  mpt: "transformer.wte.weight",
  opt: "model.decoder.embed_tokens.weight",
  llama3: "model.embed_tokens.weight",
  qwen2: "model.embed_tokens.weight",
  qwen3: "model.embed_tokens.weight",
  mistral: "model.embed_tokens.weight",
  gemma2: "model.embed_tokens.weight",
  phi3: "model.embed_tokens.weight",
};

/** grads.safetensors names that differ from the checkpoint's (transformers renames GPT-NeoX's head). */
const GRAD_NAME_IN_CHECKPOINT: Record<string, Record<string, string>> = {
  gpt_neox: { "lm_head.weight": "embed_out.weight" },
};

const read = (model: string, file: string) => new Uint8Array(readFileSync(new URL(`${model}/${file}`, MODELS_DIR)));

describe("fixture checkpoints", () => {
  const models = modelNames();

  it("finds the fixture models", () => {
    expect(models.length).toBeGreaterThanOrEqual(9);
  });

  for (const model of models) {
    for (const file of FILES) {
      it(`${model}/${file}: header, every value and a byte-identical rewrite`, () => {
        const bytes = read(model, file);
        const { headerLength, header } = readHeaderByHand(bytes);
        const parsed = parseSafetensors(bytes, { source: `${model}/${file}` });

        const { __metadata__: metadata, ...infos } = header;
        expect(parsed.metadata).toEqual(metadata ?? null);
        expect([...parsed.tensors.keys()].sort()).toEqual(Object.keys(infos).sort());
        for (const [name, info] of Object.entries(infos) as [
          string,
          { dtype: string; shape: number[]; data_offsets: [number, number] },
        ][]) {
          const entry = parsed.tensors.get(name)!;
          expect(entry.dtype).toBe(info.dtype);
          expect(entry.shape).toEqual(info.shape);
          expect(entry.bytes.byteOffset - bytes.byteOffset).toBe(8 + headerLength + info.data_offsets[0]);
          const { data } = safetensorsEntryToHost(entry);
          expect(data.length).toBe(info.shape.reduce((a, b) => a * b, 1));
          let mismatches = 0;
          for (let i = 0; i < data.length; i++) {
            if (!Object.is(data[i], elementByHand(bytes, headerLength, info.dtype, info.data_offsets[0], i))) mismatches++;
          }
          expect(mismatches, name).toBe(0);
        }

        const written = serializeSafetensors(parsed.tensors, parsed.metadata);
        expect(new TextDecoder().decode(written.subarray(0, 8 + headerLength))).toBe(
          new TextDecoder().decode(bytes.subarray(0, 8 + headerLength)),
        );
        expect(Buffer.from(written).equals(Buffer.from(bytes))).toBe(true);
      });
    }

    it(`${model}: shapes agree with config.json`, () => {
      const config = JSON.parse(readFileSync(new URL(`${model}/config.json`, MODELS_DIR), "utf8"));
      const vocab: number = config.vocab_size;
      const hidden: number = config.hidden_size ?? config.n_embd ?? config.d_model;
      const weights = parseSafetensors(read(model, "model.safetensors")).tensors;
      expect(EMBEDDING[model], `add ${model} to EMBEDDING`).toBeDefined();
      expect(weights.get(EMBEDDING[model]!)?.shape).toEqual([vocab, hidden]);

      // Gradients are per parameter: same names (tied weights appear once), shapes and dtypes.
      const grads = parseSafetensors(read(model, "grads.safetensors")).tensors;
      expect(grads.size).toBeGreaterThan(0);
      for (const [name, grad] of grads) {
        const weight = weights.get(GRAD_NAME_IN_CHECKPOINT[model]?.[name] ?? name);
        expect(weight?.shape, name).toEqual(grad.shape);
        expect(weight?.dtype, name).toBe(grad.dtype);
      }

      const reference = parseSafetensors(read(model, "reference.safetensors")).tensors;
      expect(reference.get("logits")!.shape.at(-1)).toBe(vocab);
      const ids = safetensorsEntryToHost(reference.get("input_ids")!).data;
      expect(safetensorsEntryToHost(reference.get("input_ids")!).dtype).toBe("int32");
      expect(ids.every((id) => id >= 0 && id < vocab)).toBe(true);
    });
  }

  it("reads values at unaligned byte offsets (copying), equal to the aligned read", () => {
    const bytes = read("gpt2", "reference.safetensors");
    const aligned = parseSafetensors(bytes);
    const shifted = parseSafetensors(atOddOffset(bytes));
    for (const [name, entry] of aligned.tensors) {
      const got = safetensorsEntryToHost(shifted.tensors.get(name)!);
      expect(got.data.byteOffset % got.data.BYTES_PER_ELEMENT).toBe(0);
      expect(got.data).toEqual(safetensorsEntryToHost(entry).data);
    }
  });

  it("returns views, not copies, of aligned F32 data", () => {
    const bytes = read("gpt2", "model.safetensors");
    const entry = parseSafetensors(bytes).tensors.get("transformer.wte.weight")!;
    const { data } = safetensorsEntryToHost(entry);
    expect(data.buffer).toBe(bytes.buffer);
    expect(entry.bytes.buffer).toBe(bytes.buffer);
  });
});
