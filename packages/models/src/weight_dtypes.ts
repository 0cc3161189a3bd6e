import { Embedding, Linear, type Module, OutputHead } from "@llm/layers";
import { QUANT_BLOCKS, type DType, type QuantizedDType, type Tensor } from "@llm/tensor";
import type { Model } from "./architecture.js";

/**
 * The dtype a model's weights are kept in: "auto" keeps each weight as its file stores it;
 * "float32" widens everything (for training); a half type or llama.cpp's Q8_0 / Q4_0 / Q4_1 / Q5_1 /
 * Q4_K / Q5_K / Q6_K converts the matrices (see weightDType for which).
 */
export type WeightDType = "auto" | "float32" | "float16" | "bfloat16" | "q8_0" | "q4_0" | "q4_1" | "q5_1" | "q4_k" | "q5_k" | "q6_k";

export const WEIGHT_DTYPES: readonly WeightDType[] = [
  "auto",
  "float32",
  "float16",
  "bfloat16",
  "q8_0",
  "q4_0",
  "q4_1",
  "q5_1",
  "q4_k",
  "q5_k",
  "q6_k",
];

/** What a parameter does, which decides its dtype. */
export interface WeightRole {
  readonly kind: "matrix" | "tokens" | "head" | "positions" | "other";
  /** The axis a matmul (or a row lookup) reads along: where quantized blocks run. */
  readonly axis: number;
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
 *  - under a K-quant (Q4_K, Q5_K, Q6_K) a matrix whose rows are not whole 256-value super-blocks
 *    falls back to Q8_0 (llama-quantize falls back to Q5_0 / Q5_1 / Q8_0; we read Q5_0 as Q8_0).
 * These are uniform types: llama-quantize's _M mixes also give some attn_v / ffn_down Q6_K.
 * `stored` is the dtype the weight has now (or in its file); `rowLength` the size along role.axis.
 */
export function weightDType(role: WeightRole, target: WeightDType, stored: DType, rowLength: number, modelType = ""): DType {
  if (role.kind === "other") return "float32";
  if (target === "auto") return stored === "float16" || stored === "bfloat16" ? stored : "float32";
  if (target === "float32" || target === "float16" || target === "bfloat16") return target;
  if (role.kind === "positions") return "float32";
  const fits = (type: QuantizedDType): boolean => rowLength % QUANT_BLOCKS[type].elements === 0;
  let type: QuantizedDType = target;
  if (role.kind === "head" && target !== "q8_0") type = fits("q6_k") && modelType !== "falcon" ? "q6_k" : "q8_0";
  else if (QUANT_BLOCKS[type].elements === 256 && !fits(type)) type = "q8_0";
  if (fits(type)) return type;
  return stored === "float16" || stored === "bfloat16" ? stored : "float32";
}
