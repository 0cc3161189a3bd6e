import type { KVCache, LanguageModel } from "@llm/layers";
import type { Tensor } from "@llm/tensor";
import { SamplingError } from "./errors.js";
import { bool, int32, lastLogits } from "./model_step.js";
import { createSampler, type SamplingOptions } from "./sampler.js";

export interface GenerateOptions extends SamplingOptions {
  /** Most tokens to add per prompt (default 64, or fewer when the model's maxPositions leaves less room). */
  maxNewTokens?: number;
  /** Generation of a row ends when it produces one of these; the stop token itself is not yielded. */
  stopTokens?: readonly number[];
  /** Fills the left of shorter prompts in a batch (never attended to; default 0). */
  padId?: number;
  /**
   * Continue from this cache (one prompt only): it holds the keys and values of the prompt's first
   * `cache.length` ids, so only the rest are fed. It stays the caller's (not disposed) and ends
   * holding every id fed: the prompt and the generated ids but the last (a chat's next turn
   * reuses it).
   */
  cache?: KVCache;
}

/** Streams the ids that follow one prompt, using the KV cache (each step feeds one token). */
export async function* generate(
  model: LanguageModel,
  promptIds: readonly number[],
  options: GenerateOptions = {},
): AsyncGenerator<number, void, undefined> {
  for await (const step of generateBatch(model, [promptIds], options)) {
    const id = step[0];
    if (id === null || id === undefined) return;
    yield id;
  }
}

/**
 * Streams one step at a time for a batch of prompts of different lengths: prompts are padded on
 * the left, padding is masked out and positions start at 0 at each prompt's first real token.
 * Each step yields one id per row, or null for a row that has already stopped.
 */
export async function* generateBatch(
  model: LanguageModel,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions = {},
): AsyncGenerator<(number | null)[], void, undefined> {
  const longest = Math.max(0, ...prompts.map((p) => p.length));
  const maxNew = options.maxNewTokens ?? Math.max(0, Math.min(64, model.config.maxPositions - longest));
  checkPrompts(model, prompts, maxNew);
  if (options.cache !== undefined) checkCache(options.cache, prompts);
  const stop = new Set(options.stopTokens ?? []);
  const sampler = createSampler(options);
  const batch = prompts.length;
  const width = Math.max(...prompts.map((p) => p.length));
  const padded = prompts.some((p) => p.length !== width);
  const pad = options.padId ?? 0;

  const history = prompts.map((p) => [...p]);
  const done = new Array<boolean>(batch).fill(false);
  const nextPosition = prompts.map((p) => p.length);
  // keyMask[b] grows by one real key per step: a left-padded row hides its padding forever.
  const keyMask = prompts.map((p) => [...new Array<number>(width - p.length).fill(0), ...new Array<number>(p.length).fill(1)]);

  const ownCache = options.cache === undefined;
  const cache = options.cache ?? model.createCache();
  // ids the given cache holds already are not fed again
  const cached = ownCache ? 0 : cache.length;
  try {
    let ids = int32(
      prompts.flatMap((p) => [...new Array<number>(width - p.length).fill(pad), ...p.slice(cached)]),
      [batch, width - cached],
    );
    let positions = int32(
      prompts.flatMap((p) => Array.from({ length: width - cached }, (_, j) => Math.max(0, cached + j - (width - p.length)))),
      [batch, width - cached],
    );
    for (let step = 0; step < maxNew; step++) {
      const mask: Tensor | undefined = padded ? bool(keyMask.flat(), [batch, keyMask[0]!.length]) : undefined;
      let rows: Float32Array[];
      try {
        rows = await lastLogits(model, ids, { cache, positionIds: positions, ...(mask ? { attentionMask: mask } : {}) });
      } finally {
        ids.dispose();
        positions.dispose();
        mask?.dispose();
      }
      const out: (number | null)[] = rows.map((row, b) => {
        if (done[b]) return null;
        const id = sampler.next(row, history[b]!);
        if (stop.has(id)) {
          done[b] = true;
          return null;
        }
        history[b]!.push(id);
        return id;
      });
      if (done.every(Boolean)) return;
      yield out;
      if (step === maxNew - 1) return;
      ids = int32(
        out.map((id) => id ?? pad),
        [batch, 1],
      );
      positions = int32(
        nextPosition.map((p) => p),
        [batch, 1],
      );
      for (let b = 0; b < batch; b++) {
        nextPosition[b]!++;
        keyMask[b]!.push(1);
      }
    }
  } finally {
    if (ownCache) cache.dispose();
  }
}

function checkPrompts(model: LanguageModel, prompts: readonly (readonly number[])[], maxNew: number): void {
  if (!Number.isInteger(maxNew) || maxNew < 0) throw new SamplingError(`generate: maxNewTokens must be an integer >= 0, got ${maxNew}`);
  if (prompts.length === 0) throw new SamplingError("generate: expected at least one prompt, got an empty batch");
  const vocab = model.config.vocabSize;
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new SamplingError(`generate: prompt ${b} is empty; expected at least one token id`);
    const bad = p.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad !== undefined) throw new SamplingError(`generate: prompt ${b} holds id ${bad}, expected integers in [0, ${vocab})`);
    const total = p.length + maxNew;
    if (total > model.config.maxPositions) {
      throw new SamplingError(
        `generate: prompt ${b} (${p.length} tokens) + maxNewTokens ${maxNew} = ${total} exceeds the model's maxPositions ${model.config.maxPositions}`,
      );
    }
  });
}

function checkCache(cache: KVCache, prompts: readonly (readonly number[])[]): void {
  if (prompts.length !== 1) throw new SamplingError(`generate: a cache continues one prompt, got a batch of ${prompts.length}`);
  if (cache.length >= prompts[0]!.length) {
    throw new SamplingError(
      `generate: the cache holds ${cache.length} positions; expected fewer than the prompt's ${prompts[0]!.length} ids (at least one id to feed)`,
    );
  }
}
