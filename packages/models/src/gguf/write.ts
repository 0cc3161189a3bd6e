import {
  ggufTensor,
  isQuantized,
  lazyZeros,
  noGrad,
  tensor,
  type DType,
  type GGUFTensorData,
  type GGUFValue,
  type Tensor,
} from "@llm/tensor";
import type { Model } from "../architecture.js";
import { ModelError } from "../errors.js";
import { ConfigView, GGUF_ARCHITECTURES, ggufArchitectureFor } from "./architectures.js";
import { translateName } from "./names.js";
import { ropeFrequencyFactors } from "./rope_freqs.js";
import { permuteRows, rowOrder } from "./rows.js";

export interface GGUFExportOptions {
  /**
   * The tokenizer's GGUF metadata (@llm/tokenizer's toGGUFMetadata): llama.cpp needs one to load a
   * file. Without it the file holds the weights only.
   */
  tokenizer?: ReadonlyMap<string, GGUFValue>;
  /** general.name (default: the architecture's class name). */
  name?: string;
}

/** llama.cpp's general.file_type (LLAMA_FTYPE) by the dtype of most of the weights. */
const FILE_TYPES: Record<string, number> = {
  float32: 0,
  float16: 1,
  q4_0: 2,
  q4_1: 3,
  q8_0: 7,
  q5_0: 8,
  q5_1: 9,
  q2_k: 10,
  q3_k: 12,
  q4_k: 15,
  q5_k: 17,
  q6_k: 18,
  iq4_nl: 25,
  iq4_xs: 30,
  bfloat16: 32,
};

/**
 * A model as GGUF metadata and tensors, named and laid out as llama.cpp's converter writes them
 * (convert_hf_to_gguf): weights in the dtypes they have (float32, float16, bfloat16, Q8_0, Q4_0,
 * Q6_K), Q/K rows interleaved for LLaMA, fused QKV rows regrouped for BLOOM/GPT-NeoX/Falcon,
 * GPT-2's Conv1D weights transposed. A tied head is written once (token_embd), as llama.cpp expects.
 * Tensors are read when the writer reaches them.
 */
export async function modelToGGUF(
  model: Model,
  options: GGUFExportOptions = {},
): Promise<{ metadata: Map<string, GGUFValue>; tensors: GGUFTensorData[] }> {
  const config = model.checkpointConfig();
  const modelType = String(config.model_type);
  const arch = ggufArchitectureFor(modelType);
  if (!arch) {
    throw new ModelError(
      `GGUF: model_type "${modelType}" has no GGUF form here (llama.cpp runs ${GGUF_ARCHITECTURES.map((a) => a.modelType).join(", ")} of ours)`,
    );
  }
  const rope = ropeParametersOf(config);
  // a scaled rotary travels as llama.cpp's rope_freqs tensor where the architecture has one
  const ropeFactors = arch.ropeFreqs ? ropeFrequencyFactors(rope, ropeTheta(config, rope), ropeDim(config), modelType) : null;
  const view = new ConfigView(withRopeParameters(config, rope, modelType, ropeFactors !== null));
  const metadata = new Map<string, GGUFValue>();
  const dtypes = new Map<string, number>();
  for (const p of model.parameters()) if (p.rank === 2) dtypes.set(p.dtype, (dtypes.get(p.dtype) ?? 0) + p.size);
  const main = [...dtypes].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "float32";
  metadata.set("general.architecture", { type: "string", value: arch.ggufArch });
  metadata.set("general.name", {
    type: "string",
    value: options.name ?? String((config.architectures as string[] | undefined)?.[0] ?? modelType),
  });
  metadata.set("general.file_type", { type: "uint32", value: FILE_TYPES[main] ?? 0 });
  if (isQuantized(main as DType)) metadata.set("general.quantization_version", { type: "uint32", value: 2 });
  for (const [key, value] of Object.entries(arch.metadata(view))) metadata.set(`${arch.ggufArch}.${key}`, value);
  metadata.set(`${arch.ggufArch}.vocab_size`, { type: "uint32", value: model.config.vocabSize });
  for (const [key, value] of options.tokenizer ?? []) metadata.set(key, value);

  const heads = arch.heads?.(view);
  const tensors: GGUFTensorData[] = [];
  for (const [name, t] of Object.entries(model.stateDict())) {
    const match = translateName(arch.tensors, name, "ours");
    if (!match) throw new ModelError(`GGUF: tensor "${name}" of ${modelType} has no llama.cpp name (a variant llama.cpp does not run?)`);
    const { rows, transposed, offset } = match.rule;
    // Conv1D [in, out]: llama.cpp keeps [out, in]; a quantized one is already stored that way
    const transpose = transposed === true && !isQuantized(t.dtype);
    const laidOut = async (): Promise<Tensor> => {
      let value = rows ? await permuteRows(t, rowOrder(rows, heads!)) : t;
      if (transpose) value = value.transpose(0, 1).contiguous();
      if (offset !== undefined) value = noGrad(() => value.add(offset));
      return value;
    };
    // described now (dims and size), laid out and read only when the writer reaches it
    const described =
      transpose || rows || offset !== undefined ? ggufTensor(match.name, await shapeOnly(t, transpose)) : ggufTensor(match.name, t);
    tensors.push({
      ...described,
      async bytes() {
        const value = await laidOut();
        try {
          return await ggufTensor(match.name, value).bytes();
        } finally {
          if (value !== t) value.dispose();
        }
      },
    });
  }
  if (ropeFactors) tensors.push(ggufTensor("rope_freqs.weight", tensor(ropeFactors)));
  return { metadata, tensors };
}

/** rope_parameters (transformers 5) or rope_scaling (4.x), or {}. */
/**
 * llama.cpp's n_gqa() for a model of `config` written as GGUF: attention.head_count over
 * attention.head_count_kv as the architecture writes them (the rotary, which does not move them,
 * aside). 1 where the model has no GGUF form, or one the architecture refuses to write.
 */
export function ggufHeadGroups(config: Record<string, unknown>): number {
  const modelType = String(config.model_type);
  const arch = ggufArchitectureFor(modelType);
  if (!arch) return 1;
  let metadata: Record<string, GGUFValue>;
  try {
    metadata = arch.metadata(new ConfigView(withRopeParameters(config, ropeParametersOf(config), modelType, true)));
  } catch {
    return 1;
  }
  const heads = metadata["attention.head_count"]?.value;
  const kvHeads = metadata["attention.head_count_kv"]?.value;
  return typeof heads === "number" && typeof kvHeads === "number" && kvHeads > 0 ? Math.floor(heads / kvHeads) : 1;
}

function ropeParametersOf(config: Record<string, unknown>): Record<string, unknown> {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  return isObject(config.rope_scaling) ? config.rope_scaling : isObject(config.rope_parameters) ? config.rope_parameters : {};
}

function ropeTheta(config: Record<string, unknown>, rope: Record<string, unknown>): number {
  const theta = rope.rope_theta ?? config.rope_theta ?? 10000;
  return typeof theta === "number" ? theta : 10000;
}

/** The rotated dims of a llama-style head (every dim: head_dim or hidden / heads). */
function ropeDim(config: Record<string, unknown>): number {
  const heads = Number(config.num_attention_heads);
  return typeof config.head_dim === "number" ? config.head_dim : Number(config.hidden_size) / heads;
}

/** A stand-in with the layout t takes in the file (no data allocated): for describing it early. */
async function shapeOnly(t: Tensor, transpose: boolean): Promise<Tensor> {
  if (isQuantized(t.dtype)) return t; // rows move, shape and storage order stay
  const shape = transpose ? [t.shape[1]!, t.shape[0]!] : [...t.shape];
  return lazyZeros(shape, { dtype: t.dtype, backend: t.backend });
}

/**
 * The config with transformers 5's rope_parameters (or 4.x's rope_scaling) read into the top-level
 * keys the GGUF mapping reads (rope_theta; GPT-NeoX's rotary_pct). A scaled rotary (linear,
 * dynamic, yarn, llama3, longrope) is refused unless it travels as rope_freqs (`asFactors`): a file
 * without it would compute other positions.
 */
function withRopeParameters(
  config: Record<string, unknown>,
  params: Record<string, unknown>,
  modelType: string,
  asFactors: boolean,
): Record<string, unknown> {
  const type = params.rope_type ?? params.type ?? "default";
  if (type !== "default" && !asFactors) {
    throw new ModelError(
      `GGUF: ${modelType}'s rope scaling "${String(type)}" is not written to GGUF here; a file without it would compute other positions`,
    );
  }
  const out = { ...config };
  // as the architectures read them: the rope parameters first
  if (typeof params.rope_theta === "number") {
    out.rope_theta = params.rope_theta;
    delete out.rotary_emb_base;
  }
  if (typeof params.partial_rotary_factor === "number") out.rotary_pct = params.partial_rotary_factor;
  return out;
}
