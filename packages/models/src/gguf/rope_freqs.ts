import { ModelError } from "../errors.js";

/**
 * llama.cpp keeps a scaled rotary of the llama architecture as one tensor, `rope_freqs.weight`: a
 * factor per rotary frequency, each frequency's angle divided by its factor (convert_hf_to_gguf
 * writes it for Llama 3.1's "llama3" bands). We write it from a "llama3" rope, or from a
 * "longrope" whose factors are the same at every length and that scales no attention (what we
 * read such a file as), and read it as that longrope: per-frequency factors are what longrope is.
 */

/** The rope parameters of a config (transformers 5's rope_parameters, or 4.x's rope_scaling). */
type RopeParams = Readonly<Record<string, unknown>>;

/** The factors for `rotaryDim` rotated dims, or null for an unscaled rotary; an error for a scaling llama.cpp cannot hold. */
export function ropeFrequencyFactors(params: RopeParams, theta: number, rotaryDim: number, modelType: string): Float32Array | null {
  const type = String(params.rope_type ?? params.type ?? "default");
  if (type === "default") return null;
  if (type === "llama3") return llama3Factors(params, theta, rotaryDim);
  const short = params.short_factor;
  const long = params.long_factor;
  const sameFactors = Array.isArray(short) && Array.isArray(long) && short.length === rotaryDim / 2 && short.every((f, i) => f === long[i]);
  const noAttentionScale = typeof params.factor === "number" && params.factor <= 1 && (params.attention_factor ?? 1) === 1;
  if (type === "longrope" && sameFactors && noAttentionScale) return Float32Array.from(short as number[]);
  throw new ModelError(
    `GGUF: ${modelType}'s rope scaling "${type}" is not written to GGUF here (llama.cpp's rope_freqs holds "llama3" bands, or longrope factors that do not change with length and scale no attention); a file without it would compute other positions`,
  );
}

/** convert_hf_to_gguf's factors for Llama 3.1's bands: 1 for short wavelengths, `factor` for long ones, a ramp between. */
function llama3Factors(params: RopeParams, theta: number, rotaryDim: number): Float32Array {
  const num = (key: string, fallback: number) => (typeof params[key] === "number" ? (params[key] as number) : fallback);
  const factor = num("factor", 8);
  const low = num("low_freq_factor", 1);
  const high = num("high_freq_factor", 4);
  const original = num("original_max_position_embeddings", 8192);
  const lowWavelength = original / low;
  const highWavelength = original / high;
  return Float32Array.from({ length: rotaryDim / 2 }, (_, i) => {
    const frequency = Math.fround(1 / Math.fround(theta ** ((2 * i) / rotaryDim)));
    const wavelength = (2 * Math.PI) / frequency;
    if (wavelength < highWavelength) return 1;
    if (wavelength > lowWavelength) return factor;
    const smooth = (original / wavelength - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

/** The rope parameters a file's rope_freqs stands for: longrope, the same factors at every length, no attention scale. */
export function ropeParametersFromFactors(factors: Float32Array, theta: number, contextLength: number): Record<string, unknown> {
  const list = Array.from(factors);
  return {
    rope_type: "longrope",
    rope_theta: theta,
    short_factor: list,
    long_factor: list,
    original_max_position_embeddings: contextLength,
    factor: 1,
  };
}
