import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend, noGrad, tensor, withBackend, type Tensor } from "@llm/tensor";
import { loadModel } from "@llm/models/node";
import { readFixture } from "./fixture_files.js";

// A model's forward makes every layer's KV buffers before its first step, and a disposed cache's
// buffers serve the model's next cache (docs/cpu.md, "Peak RSS: where it goes"): a second
// generation writes into the first one's buffers, so the WebAssembly memory it touches is the same,
// and its tokens are those of a fresh cache.

const backend = new CpuBackend({ threads: 1 });
afterAll(() => backend.close());

describe("KV buffers across generations", () => {
  it("a second generation reuses the first one's buffers and decodes the same tokens", async () => {
    const f = await readFixture("gpt2");
    const model = await loadModel(f.dir, { backend });
    const vocab = Number(f.config.vocab_size);
    const generate = (): { tokens: number[]; buffers: unknown[] } =>
      withBackend(backend, () =>
        noGrad(() => {
          const cache = model.createCache();
          // every layer has its room before the prompt's first block runs
          let logits: Tensor = model.forward(tensor([Array.from({ length: 12 }, (_, i) => (5 * i + 1) % vocab)], { dtype: "int32" }), {
            cache,
          });
          expect(cache.layers.every((layer) => layer.capacity === model.config.maxPositions)).toBe(true);
          const tokens: number[] = [];
          for (let step = 0; step < 4; step++) {
            const row = Array.from(logits.dataSync().subarray(logits.size - vocab)); // the last position's
            tokens.push(row.indexOf(Math.max(...row)));
            logits.dispose();
            logits = model.forward(tensor([[tokens[tokens.length - 1]!]], { dtype: "int32" }), { cache });
          }
          logits.dispose();
          const buffers = cache.layers.flatMap((layer) => [layer.keys!.storage, layer.values!.storage]);
          cache.dispose();
          return { tokens, buffers };
        }),
      );
    const first = generate();
    const second = generate();
    expect(second.tokens).toEqual(first.tokens);
    expect(new Set(second.buffers).size).toBe(first.buffers.length);
    for (const storage of second.buffers) expect(first.buffers).toContain(storage);
    model.dispose();
  });
});
