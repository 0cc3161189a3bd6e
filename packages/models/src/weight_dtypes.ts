import { Embedding, Linear, type Module, OutputHead } from "@llm/layers";
import { QUANT_BLOCKS, QUANTIZE_TYPES, type DType, type QuantizedDType, type Tensor } from "@llm/tensor";
import type { Model } from "./architecture.js";
import { ModelError } from "./errors.js";
import { ggufArchitectureFor } from "./gguf/architectures.js";
import { translateName } from "./gguf/names.js";
import { ggufHeadGroups } from "./gguf/write.js";
import { isMix, MIX_BASE, MIX_DTYPES, mixType, type MixDType, type TensorPlace } from "./quant_mixes.js";

/**
 * The dtype a model's weights are kept in: "auto" keeps each weight as its file stores it;
 * "float32" widens everything (for training); a half type or llama.cpp's Q8_0 / Q4_0 / Q5_0 / Q4_1 / Q5_1 /
 * Q2_K / Q3_K / Q4_K / Q5_K / Q6_K converts the matrices (see weightDType for which); "q3_k_s" ..
 * "q5_k_m" are llama-quantize's mixes of them (quant_mixes.ts).
 */
export type WeightDType = "auto" | "float32" | "float16" | "bfloat16" | QuantizedDType | MixDType;

export const WEIGHT_DTYPES: readonly WeightDType[] = ["auto", "float32", "float16", "bfloat16", ...QUANTIZE_TYPES, ...MIX_DTYPES];

/** What a parameter does, which decides its dtype. */
export interface WeightRole {
  readonly kind: "matrix" | "tokens" | "head" | "positions" | "other";
  /** The axis a matmul (or a row lookup) reads along: where quantized blocks run. */
  readonly axis: number;
  /** Its GGUF name and the layer count, where the architecture has a GGUF naming (llama-quantize's mixes go by them). */
  readonly place?: TensorPlace;
}

/** Every parameter's role: Linear weights, the token table, the output head, position tables, and the rest (norms, biases). */
export function weightRoles(model: Model): Map<Tensor, WeightRole> {
  const roles = new Map<Tensor, WeightRole>();
  const visit = (module: Module): void => {
    if (module instanceof Linear) roles.set(module.weight, { kind: "matrix", axis: module.layout === "out_in" ? 1 : 0 });
    else if (module instanceof OutputHead && !module.tied) roles.set(module.weight, { kind: "head", axis: 1 });
    else if (module instanceof Embedding && !roles.has(module.weight)) roles.set(module.weight, { kind: "positions", axis: 1 });
    for (const [, child] of module.namedChildren()) visit(child);
  };
  // a table tied to the head is the head (llama.cpp quantizes it as its output tensor)
  roles.set(model.embed.tokens.weight, { kind: model.head.tied ? "head" : "tokens", axis: 1 });
  visit(model);
  for (const p of model.parameters()) if (!roles.has(p)) roles.set(p, { kind: "other", axis: -1 });
  return withPlaces(model, roles);
}

/** The roles with each weight's GGUF name and the layer count, for architectures llama.cpp names. */
function withPlaces(model: Model, roles: Map<Tensor, WeightRole>): Map<Tensor, WeightRole> {
  let config: Record<string, unknown>;
  try {
    config = model.checkpointConfig();
  } catch {
    return roles;
  }
  const modelType = String(config.model_type ?? "");
  const arch = ggufArchitectureFor(modelType);
  if (!arch) return roles;
  const headGroups = ggufHeadGroups(config);
  const names = new Map<Tensor, string>();
  let layers = 0;
  for (const [name, p] of model.namedParameters()) {
    const gguf = translateName(arch.tensors, name, "ours")?.name;
    if (gguf === undefined) continue;
    names.set(p, gguf);
    const layer = /^blk\.(\d+)\./.exec(gguf);
    if (layer) layers = Math.max(layers, Number(layer[1]) + 1);
  }
  for (const [p, gguf] of names) roles.set(p, { ...roles.get(p)!, place: { ggufName: gguf, layers, headGroups } });
  return roles;
}

/**
 * The dtype a weight of `role` gets under `target`, as llama.cpp chooses by default (llama-quantize's
 * llama_tensor_get_type and convert_hf_to_gguf):
 *  - norms, biases and every other 1-D parameter stay float32;
 *  - position tables stay float32 under Q8_0/Q4_0 (llama.cpp never quantizes pos_embd), and take a
 *    half target;
 *  - matrices and the token table take the target; a matrix whose rows are not whole blocks keeps
 *    the dtype it has (llama.cpp's converter falls back to F16 there);
 *  - the output head (or the token table tied to it) is Q8_0 under Q8_0; under the others it is
 *    Q6_K when its rows are whole 256-value super-blocks, else Q8_0 (and always Q8_0 for Falcon);
 *  - under a K-quant (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K) or IQ4_XS a matrix whose rows are not whole
 *    256-value super-blocks falls back as llama-quantize's does: to Q4_0, Q4_0, Q5_0, Q5_1, Q8_0, IQ4_NL.
 * A block type is uniform; a mix (MIX_DTYPES) picks each matrix's type by its GGUF name and layer (mixType).
 * `stored` is the dtype the weight has now (or in its file); `rowLength` the size along role.axis.
 */
export function weightDType(role: WeightRole, target: WeightDType, stored: DType, rowLength: number, modelType = ""): DType {
  if (role.kind === "other") return "float32";
  if (target === "auto") return stored === "float16" || stored === "bfloat16" ? stored : "float32";
  if (target === "float32" || target === "float16" || target === "bfloat16") return target;
  if (role.kind === "positions") return "float32";
  const fits = (type: QuantizedDType): boolean => rowLength % QUANT_BLOCKS[type].elements === 0;
  let type: QuantizedDType;
  if (role.kind === "head" && target !== "q8_0") type = fits("q6_k") && modelType !== "falcon" ? "q6_k" : "q8_0";
  else if (isMix(target)) type = role.kind === "matrix" ? mixType(target, placeOf(role, target, modelType), modelType) : MIX_BASE[target];
  else type = target;
  if (role.kind !== "head" && !fits(type)) type = SUPER_BLOCK_FALLBACK[type] ?? type;
  if (fits(type)) return type;
  return stored === "float16" || stored === "bfloat16" ? stored : "float32";
}

/** The type for rows that are not whole 256-value super-blocks, as llama-quantize falls back. */
const SUPER_BLOCK_FALLBACK: Partial<Record<QuantizedDType, QuantizedDType>> = {
  q2_k: "q4_0",
  q3_k: "q4_0",
  q4_k: "q5_0",
  q5_k: "q5_1",
  q6_k: "q8_0",
  iq4_xs: "iq4_nl",
};

function placeOf(role: WeightRole, mix: MixDType, modelType: string): TensorPlace {
  if (role.place) return role.place;
  throw new ModelError(
    `dtype "${mix}": llama-quantize's mixes choose by llama.cpp's tensor names and layers, which ${modelType || "this model"} has none of (no GGUF architecture); use "${MIX_BASE[mix]}"`,
  );
}
