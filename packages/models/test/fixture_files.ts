import { copyFileSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { concat, noGrad, tensor, type Tensor } from "@llm/tensor";
import type { CreateCacheOptions, ForwardOptions, KVCache, TransformerKVCache } from "@llm/layers";
import { glmBlockMask, type Model } from "@llm/models";
import { readSafetensorsFile } from "@llm/tensor/node";

export const FIXTURES = fileURLToPath(new URL("../../../fixtures/models/", import.meta.url));

export const fixtureNames = (): string[] => readdirSync(FIXTURES).sort();

/** A copy of a fixture's config.json (changed) and weights in the folder `dir`, which it makes. */
export function fixtureVariant(name: string, changes: Record<string, unknown>, dir: string): string {
  mkdirSync(dir, { recursive: true });
  copyFileSync(join(FIXTURES, name, "model.safetensors"), join(dir, "model.safetensors"));
  const config = JSON.parse(readFileSync(join(FIXTURES, name, "config.json"), "utf8")) as Record<string, unknown>;
  writeFileSync(join(dir, "config.json"), JSON.stringify({ ...config, ...changes }));
  return dir;
}

export interface Fixture {
  name: string;
  dir: string;
  config: Record<string, unknown>;
  weights: Record<string, Tensor>;
  reference: Record<string, Tensor>;
  grads: Record<string, Tensor>;
}

export async function readFixture(name: string): Promise<Fixture> {
  const dir = `${FIXTURES}${name}`;
  return {
    name,
    dir,
    config: JSON.parse(readFileSync(`${dir}/config.json`, "utf8")) as Record<string, unknown>,
    weights: await readSafetensorsFile(`${dir}/model.safetensors`),
    reference: await readSafetensorsFile(`${dir}/reference.safetensors`),
    grads: await readSafetensorsFile(`${dir}/grads.safetensors`),
  };
}

/** Largest |a - b| over all elements (shapes must agree). */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.shape.join() !== b.shape.join()) throw new Error(`shapes differ: [${a.shape}] vs [${b.shape}]`);
  const x = a.dataSync();
  const y = b.dataSync();
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i]! - y[i]!));
  return Number.isNaN(max) ? Infinity : max;
}

/** Elements outside "1e-4 absolute or 1e-3 relative", the fixtures' gradient tolerance. */
export function gradientViolations(actual: Tensor, expected: Tensor): number {
  const x = actual.dataSync();
  const y = expected.dataSync();
  let bad = 0;
  for (let i = 0; i < x.length; i++) {
    const d = Math.abs(x[i]! - y[i]!);
    if (!(d <= 1e-4 || d <= 1e-3 * Math.abs(y[i]!))) bad++;
  }
  return bad;
}

/** Forward options of the fixture's scored batch: GLM's come from its reference file. */
export function batchOptions(f: Fixture): ForwardOptions {
  if (f.name !== "glm") return {};
  const ids = f.reference.input_ids!;
  const sep = f.reference.sep!.dataSync()[0]!;
  return { positionIds: f.reference.position_ids!, attentionMask: glmBlockMask(ids.shape[0]!, ids.shape[1]!, sep) };
}

/** Greedy continuation steps: ids and last-position logits, with a full forward each step or the cache. */
/**
 * A cache as `createCache` makes it, or (`rounding`) a float32 one whose every appended step is
 * first rounded to that dtype and widened back: what a cache of that dtype must compute.
 */
export type GreedyCache = CreateCacheOptions | { rounding: "float16" | "bfloat16" };

export function greedy(model: Model, f: Fixture, useCache: boolean, cacheOptions?: GreedyCache): { ids: number[]; logits: Tensor[] } {
  const steps = f.reference.gen_ids!.shape[1]!;
  const ids: number[] = [];
  const logits: Tensor[] = [];
  noGrad(() => {
    const glm = f.name === "glm";
    const prompt = glm ? concat([f.reference.gen_partA!, tensor([[sopId(f)]], { dtype: "int32" })], 1) : f.reference.gen_prompt!;
    const sep = f.reference.gen_partA?.shape[1] ?? 0;
    const cache = useCache ? makeCache(model, cacheOptions) : undefined;
    let sequence = prompt;
    let next: Tensor = prompt;
    for (let step = 0; step < steps; step++) {
      const input = useCache ? next : sequence;
      const options: ForwardOptions = { cache };
      const total = sequence.shape[1]!;
      if (glm) {
        const start = total - input.shape[1]!;
        options.positionIds = glmPositions(sep, total).slice(2, start);
        if (!useCache || step === 0) options.attentionMask = glmBlockMask(1, total, sep);
      }
      const out = model.forward(input, options);
      const last = out.slice(1, out.shape[1]! - 1).reshape(-1);
      logits.push(last);
      const id = last.argmax(0).dataSync()[0]!;
      ids.push(id);
      next = tensor([[id]], { dtype: "int32" });
      sequence = concat([sequence, next], 1);
    }
    cache?.dispose();
  });
  return { ids, logits };
}

function makeCache(model: Model, options: GreedyCache | undefined): KVCache {
  if (!options || !("rounding" in options)) return model.createCache(options);
  const cache = model.createCache() as TransformerKVCache;
  const to = options.rounding;
  for (const layer of cache.layers) {
    const append = layer.append.bind(layer);
    layer.append = (keys, values) => append(keys.cast(to).float(), values.cast(to).float());
  }
  return cache;
}

function sopId(f: Fixture): number {
  return (f.config.special_tokens as Record<string, number>).sop!;
}

/** GLM generation positions: Part A 0..sep-1; [sop] and every new token at the [MASK] (2), block 1, 2, ... */
function glmPositions(sep: number, total: number): Tensor {
  const mask = 2;
  const position = Array.from({ length: total }, (_, i) => (i < sep ? i : mask));
  const block = Array.from({ length: total }, (_, i) => (i < sep ? 0 : i - sep + 1));
  return tensor([[position, block]], { dtype: "int32" });
}
