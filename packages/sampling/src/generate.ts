import type { KVCache, LanguageModel } from "@llm/layers";
import { Rng, type Tensor } from "@llm/tensor";
import { deviceSampling, drawOnDevice, type SampleOn } from "./device_sampling.js";
import { SamplingError } from "./errors.js";
import { bool, int32, lastLogitsTensor, rowsOf } from "./model_step.js";
import { checkModelLogits, checkSamplingOptions, describeValue, OptionChecker } from "./options.js";
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
  /**
   * What the cache generate makes keeps keys and values as (model.createCache's dtype): "float16"
   * or "bfloat16" at half the memory, rounded as they are written; default "float32". Not with `cache`.
   */
  cacheDType?: "float32" | "float16" | "bfloat16";
  /**
   * Go past the model's maxPositions (the length its config declares) when its positions can be
   * computed there (rotary, ALiBi). Without it, a prompt plus maxNewTokens past that length is an error.
   */
  extrapolate?: boolean;
  /**
   * Where the logits processors and the draw run: "host" reads each row of logits back and runs
   * them in JS; "device" runs them as kernels where the logits are (sampleTokens), reading back
   * one id per row; "auto" (default) is "device" on a backend without synchronous reads (WebGPU)
   * and "host" elsewhere. Custom `processors` always run on the host. With the same seed both
   * pick the same ids, up to float rounding at a cumulative-probability boundary.
   */
  sampleOn?: SampleOn;
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
  const check = new OptionChecker("generate", options);
  checkGenerateOptions(check, model.config.vocabSize);
  if (!Array.isArray(prompts))
    throw new SamplingError(`generate: prompts must be an array of arrays of token ids, found ${describeValue(prompts)}`);
  prompts.forEach((p, b) => {
    if (!Array.isArray(p)) throw new SamplingError(`generate: prompt ${b} must be an array of token ids, found ${describeValue(p)}`);
  });
  const longest = Math.max(0, ...prompts.map((p) => p.length));
  const room = options.extrapolate ? Infinity : model.config.maxPositions - longest;
  if (options.maxNewTokens === undefined && room <= 0 && prompts.length > 0) {
    throw new SamplingError(
      `generate: the longest prompt (${longest} tokens) fills the model's maxPositions ${model.config.maxPositions}: no room for a new token ` +
        "(shorten the prompt, or pass extrapolate: true for a rotary or ALiBi model)",
    );
  }
  const maxNew = options.maxNewTokens ?? Math.min(64, room);
  checkPrompts(model, prompts, maxNew, options.extrapolate === true);
  if (options.cache !== undefined) checkCache(options.cache, prompts);
  if (options.cache !== undefined && options.cacheDType !== undefined) {
    throw new SamplingError(
      "generate: cacheDType is for the cache generate makes; a given cache keeps its own dtype (pass one or the other)",
    );
  }
  const stop = new Set(options.stopTokens ?? []);
  const rng = options.rng ?? new Rng(options.seed ?? 0);
  const sampler = createSampler({ ...options, rng });
  // where to draw is known once the first logits say which backend the model runs on
  let onDevice: ReturnType<typeof deviceSampling> | undefined;
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
  const cache = options.cache ?? model.createCache({ dtype: options.cacheDType });
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
      const forwardOptions = {
        cache,
        positionIds: positions,
        ...(mask ? { attentionMask: mask } : {}),
        ...(options.extrapolate ? { extrapolate: true } : {}),
      };
      let picked: (number | null)[];
      try {
        const last = lastLogitsTensor(model, ids, forwardOptions);
        try {
          onDevice ??= deviceSampling(options, last.backend, sampler.greedy);
          if (onDevice) picked = await drawOnDevice(last, onDevice, history, done, rng, step);
          else {
            const rows = await rowsOf(last);
            picked = rows.map((row, b) => {
              if (done[b]) return null;
              checkModelLogits("generate", row, step, b);
              return atStep(step, b, () => sampler.next(row, history[b]!));
            });
          }
        } finally {
          last.dispose();
        }
      } finally {
        ids.dispose();
        positions.dispose();
        mask?.dispose();
      }
      const out: (number | null)[] = picked.map((id, b) => {
        if (id === null) return null;
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

/** The generation options beyond sampling: maxNewTokens, stopTokens, padId, extrapolate. */
export function checkGenerateOptions(check: OptionChecker, vocabSize: number): void {
  checkSamplingOptions(check);
  check.integer("maxNewTokens", 0);
  check.array("stopTokens", (id) => typeof id === "number" && Number.isInteger(id) && id >= 0, "token ids (integers >= 0)");
  check.integer("padId", 0, vocabSize - 1);
  check.boolean("extrapolate");
  check.oneOf("sampleOn", ["auto", "host", "device"]);
  check.oneOf("cacheDType", ["float32", "float16", "bfloat16"]);
}

/** Runs a sampler step; its errors say which step and prompt they came from. */
function atStep<T>(step: number, row: number, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    if (error instanceof SamplingError) throw new SamplingError(`generate: step ${step}, prompt ${row}: ${error.message}`);
    throw error;
  }
}

function checkPrompts(model: LanguageModel, prompts: readonly (readonly number[])[], maxNew: number, extrapolate: boolean): void {
  if (prompts.length === 0) throw new SamplingError("generate: expected at least one prompt, got an empty batch");
  const vocab = model.config.vocabSize;
  prompts.forEach((p, b) => {
    if (p.length === 0) throw new SamplingError(`generate: prompt ${b} is empty; expected at least one token id`);
    const bad = p.find((id) => !Number.isInteger(id) || id < 0 || id >= vocab);
    if (bad !== undefined) throw new SamplingError(`generate: prompt ${b} holds id ${bad}, expected integers in [0, ${vocab})`);
    const total = p.length + maxNew;
    if (total > model.config.maxPositions && !extrapolate) {
      throw new SamplingError(
        `generate: prompt ${b} (${p.length} tokens) + maxNewTokens ${maxNew} = ${total} exceeds the model's maxPositions ${model.config.maxPositions}` +
          " (pass extrapolate: true to go past it with a rotary or ALiBi model)",
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
