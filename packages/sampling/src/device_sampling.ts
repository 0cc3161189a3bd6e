import { sampleTokens, SAMPLE_ALL_REMOVED, tensor, type Backend, type Rng, type SampleTokensOptions, type Tensor } from "@llm/tensor";
import { SamplingError } from "./errors.js";
import type { SamplingOptions } from "./sampler.js";

/** Where a generation picks its tokens: "host" reads each row of logits back and runs the processors in JS; "device" runs them where the logits are and reads back one id per row. */
export type SampleOn = "auto" | "host" | "device";

/** The smallest temperature the device draw takes (the smallest normal float32; GPUs may flush smaller ones to 0). */
const MIN_DEVICE_TEMPERATURE = 1.1754943508222875e-38;

/**
 * The sampleTokens options for these sampling options, or null when they need the host: custom
 * processors (JS functions), or a temperature below the smallest normal float32. `auto` takes the
 * device where reading a row back is a device round trip anyway (no synchronous read: WebGPU), and
 * the host on the CPU, whose sampler is unchanged.
 */
export function deviceSampling(
  options: SamplingOptions & { sampleOn?: SampleOn },
  backend: Backend,
  greedy: boolean,
): SampleTokensOptions | null {
  const on = options.sampleOn ?? "auto";
  const expressible =
    (options.processors ?? []).length === 0 &&
    !(options.temperature !== undefined && options.temperature > 0 && options.temperature < MIN_DEVICE_TEMPERATURE);
  if (on === "host") return null;
  if (!expressible) {
    if (on === "device")
      throw new SamplingError(
        'generate: sampleOn "device" cannot run custom processors or a temperature below 1.2e-38; use sampleOn "host"',
      );
    return null;
  }
  if (on === "auto" && backend.readSync) return null;
  const t = options.temperature;
  return {
    greedy,
    ...(t !== undefined && t > 0 ? { temperature: t } : {}),
    ...(options.topK !== undefined ? { topK: options.topK } : {}),
    ...(options.topP !== undefined ? { topP: options.topP } : {}),
    ...(options.minP !== undefined ? { minP: options.minP } : {}),
    ...(options.repetitionPenalty !== undefined ? { repetitionPenalty: options.repetitionPenalty } : {}),
  };
}

/**
 * The ids picked from `last` [batch, vocab] on its own backend: the seen ids (for the penalty) and
 * one uniform per row that is still going (from `rng`, in row order, as the host sampler draws
 * them) go up, one id per row comes back. Rows that are done get a null.
 */
export async function drawOnDevice(
  last: Tensor,
  params: SampleTokensOptions,
  history: readonly (readonly number[])[],
  done: readonly boolean[],
  rng: Rng,
  step: number,
): Promise<(number | null)[]> {
  const backend = last.backend;
  const batch = history.length;
  const made: Tensor[] = [];
  try {
    const options: SampleTokensOptions = { ...params };
    if (params.repetitionPenalty !== undefined && params.repetitionPenalty !== 1) {
      const distinct = history.map((h) => [...new Set(h)]);
      const width = Math.max(1, ...distinct.map((d) => d.length));
      const host = new Int32Array(batch * width).fill(-1);
      distinct.forEach((d, b) => host.set(d, b * width));
      made.push((options.seen = tensor(host, { shape: [batch, width], dtype: "int32", backend })));
    }
    if (!params.greedy) {
      const u = Float32Array.from(done, (d) => (d ? 0 : rng.uniform()));
      made.push((options.uniforms = tensor(u, { backend })));
    }
    const ids = sampleTokens(last, options);
    made.push(ids);
    const host = (await ids.data()) as Int32Array;
    return Array.from(host, (id: number, b: number): number | null => {
      if (done[b]) return null;
      if (id >= 0) return id;
      const why =
        id === SAMPLE_ALL_REMOVED
          ? "every logit is -Infinity; the processors removed all tokens"
          : "the model's logits hold NaN or +Infinity; expected finite values (the weights, the config's numbers or the input may hold NaN, or a value overflowed)";
      throw new SamplingError(`generate: step ${step}, prompt ${b}: ${why}`);
    });
  } finally {
    for (const t of made) t.dispose();
  }
}
