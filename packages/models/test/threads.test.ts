import { afterAll, describe, expect, it } from "vitest";
import { CpuBackend, noGrad, tensor, withBackend, type Backend, type Tensor } from "@llm/tensor";
import { crossEntropy, type ForwardOptions } from "@llm/layers";
import { glmBlockMask } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { fixtureNames, maxAbsDiff, readFixture, type Fixture } from "./fixture_files.js";

// Every fixture on the CPU backend with 1, 2 and 3 threads (minWorkPerThread 0: even these tiny
// models' kernels split): the same logits, loss and gradients bit for bit, the reference logits,
// and the reference greedy tokens through the KV cache. Then a model spread over several
// WebAssembly memories (a per-memory cap far below its size), which must give the same numbers.

const backends = [1, 2, 3].map((threads) => new CpuBackend({ threads, minWorkPerThread: 0 }));
const spread = new CpuBackend({ threads: 2, minWorkPerThread: 0, maxMemoryBytes: 6 * 65536 });
afterAll(() => {
  for (const b of [...backends, spread]) b.close();
});

/** t's values as a tensor on `backend`. */
function onto(t: Tensor, backend: Backend): Tensor {
  return tensor(Array.from(t.dataSync()), { shape: t.shape, dtype: t.dtype, backend });
}

interface Run {
  logits: Float32Array;
  loss: number;
  grads: Map<string, Float32Array>;
  logitsError: number;
  tokens: number[] | null;
}

async function run(f: Fixture, backend: CpuBackend): Promise<Run> {
  const model = await loadModel(f.dir, { backend });
  return withBackend(backend, () => {
    const ids = onto(f.reference.input_ids!, backend);
    const options: ForwardOptions = {};
    if (f.name === "glm") {
      const sep = f.reference.sep!.dataSync()[0]!;
      options.positionIds = onto(f.reference.position_ids!, backend);
      options.attentionMask = glmBlockMask(ids.shape[0]!, ids.shape[1]!, sep);
    }
    const logits = model.forward(ids, options);
    const seq = ids.shape[1]!;
    const loss = crossEntropy(logits.slice(1, 0, seq - 1), ids.slice(1, 1).contiguous());
    loss.backward();
    const grads = new Map(Object.entries(model.stateDict()).map(([k, p]) => [k, p.grad!.dataSync() as Float32Array]));
    const logitsError = maxAbsDiff(logits, onto(f.reference.logits!, backend));
    let tokens: number[] | null = null;
    if (f.name !== "glm") {
      tokens = [];
      noGrad(() => {
        const cache = model.createCache();
        let next = onto(f.reference.gen_prompt!, backend);
        for (let step = 0; step < f.reference.gen_ids!.shape[1]!; step++) {
          const out = model.forward(next, { cache });
          const id = out
            .slice(1, out.shape[1]! - 1)
            .reshape(-1)
            .argmax(0)
            .dataSync()[0]!;
          tokens!.push(id);
          next = tensor([[id]], { dtype: "int32", backend });
        }
        cache.dispose();
      });
    }
    return { logits: logits.dataSync() as Float32Array, loss: loss.dataSync()[0]!, grads, logitsError, tokens };
  });
}

function expectSame(a: Run, b: Run, what: string): void {
  expect(b.logits, `${what}: logits`).toEqual(a.logits);
  expect(b.loss, `${what}: loss`).toBe(a.loss);
  for (const [key, g] of a.grads) expect(b.grads.get(key), `${what}: grad of ${key}`).toEqual(g);
  expect(b.tokens, `${what}: greedy tokens`).toEqual(a.tokens);
}

describe.each(fixtureNames())("%s fixture on 1, 2 and 3 threads", (name) => {
  it("gives the same logits, loss and gradients on any thread count, the reference logits, and the reference tokens", async () => {
    const f = await readFixture(name);
    const runs: Run[] = [];
    for (const be of backends) runs.push(await run(f, be));
    for (const r of runs) expect(r.logitsError).toBeLessThanOrEqual(1e-4);
    if (runs[0]!.tokens) expect(runs[0]!.tokens).toEqual(Array.from(f.reference.gen_ids!.dataSync()));
    expectSame(runs[0]!, runs[1]!, "2 threads");
    expectSame(runs[0]!, runs[2]!, "3 threads");
  });
});

describe("a model spread over several WebAssembly memories", () => {
  it("loads with a per-memory cap of 384 KiB (its weights take 600 KiB) and computes the same numbers", async () => {
    const f = await readFixture("llama");
    const one = await run(f, backends[1]!);
    const many = await run(f, spread);
    expect(spread.memories).toBeGreaterThanOrEqual(3);
    expect(backends[1]!.memories).toBe(1);
    expect(many.logitsError).toBeLessThanOrEqual(1e-4);
    expectSame(one, many, "spread over memories");
  });
});
