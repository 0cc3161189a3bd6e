import type { QuantizedDType } from "@llm/tensor";

/**
 * llama-quantize's K-quant mixes (llama_tensor_get_type for LLAMA_FTYPE_MOSTLY_Q3_K_S / _M / _L,
 * _Q4_K_S / _M and _Q5_K_S / _M, no imatrix): the base type for every matrix, more bits for the
 * value projection, the MLP's down projection and (Q3_K_M / _L) the attention output, some by
 * layer. Checked against the types llama.cpp's own llama_model_quantize chose for every
 * architecture we write to GGUF (test/golden/llama_quantize/type_maps.json).
 */
export type MixDType = "q3_k_s" | "q3_k_m" | "q3_k_l" | "q4_k_s" | "q4_k_m" | "q5_k_s" | "q5_k_m";

export const MIX_DTYPES: readonly MixDType[] = ["q3_k_s", "q3_k_m", "q3_k_l", "q4_k_s", "q4_k_m", "q5_k_s", "q5_k_m"];

/** The type of most matrices under each mix. */
export const MIX_BASE: Readonly<Record<MixDType, "q3_k" | "q4_k" | "q5_k">> = {
  q3_k_s: "q3_k",
  q3_k_m: "q3_k",
  q3_k_l: "q3_k",
  q4_k_s: "q4_k",
  q4_k_m: "q4_k",
  q5_k_s: "q5_k",
  q5_k_m: "q5_k",
};

/** Where a weight sits in llama.cpp's naming: its GGUF tensor name, and the model's layer count. */
export interface TensorPlace {
  readonly ggufName: string;
  readonly layers: number;
  /** llama.cpp's n_gqa(): query heads per key/value head (1 without shared heads). */
  readonly headGroups: number;
}

export function isMix(dtype: string): dtype is MixDType {
  return (MIX_DTYPES as readonly string[]).includes(dtype);
}

/** llama.cpp's use_more_bits: the first and last eighth of the layers, and every third between. */
function moreBits(layer: number, layers: number): boolean {
  const eighth = Math.floor(layers / 8);
  return layer < eighth || layer >= Math.floor((7 * layers) / 8) || (layer - eighth) % 3 === 2;
}

/**
 * The type a matrix (not the output head or token table) gets under `mix`, before the fallback for
 * rows that are not whole super-blocks. The value projection (attn_v, or the fused attn_qkv,
 * which llama.cpp counts with them), ffn_down and attn_output get more bits by mix and layer;
 * Falcon has its own steps; a 70B llama (80 layers sharing key/value heads) keeps attn_v at Q5_K
 * or more.
 */
export function mixType(mix: MixDType, place: TensorPlace, modelType: string): QuantizedDType {
  const base = MIX_BASE[mix];
  const m = /^blk\.(\d+)\.(attn_v|attn_qkv|ffn_down|attn_output)\.weight$/.exec(place.ggufName);
  if (!m) return base;
  const layer = Number(m[1]);
  const n = place.layers;
  const falcon = modelType === "falcon";
  const medium = mix === "q4_k_m" || mix === "q5_k_m";
  if (m[2] === "attn_output") {
    if (mix === "q3_k_m") return falcon ? base : "q4_k";
    if (mix === "q3_k_l") return falcon ? "q4_k" : "q5_k";
    return base;
  }
  if (m[2] === "ffn_down") {
    if (mix === "q3_k_m") return layer < Math.floor(n / 16) ? "q5_k" : !falcon || moreBits(layer, n) ? "q4_k" : base;
    if (mix === "q3_k_l") return falcon ? "q4_k" : "q5_k";
    if (mix === "q4_k_m" && falcon) return layer < Math.floor(n / 16) ? "q6_k" : moreBits(layer, n) ? "q5_k" : base;
    if (medium) return moreBits(layer, n) ? "q6_k" : base;
    if (mix === "q4_k_s" && !falcon && layer < Math.floor(n / 8)) return "q5_k";
    return base;
  }
  let type: QuantizedDType = base;
  if (mix === "q3_k_m") type = layer < 2 ? "q5_k" : "q4_k";
  else if (mix === "q3_k_l") type = "q5_k";
  else if (medium && moreBits(layer, n)) type = "q6_k";
  else if (mix === "q4_k_s" && layer < 4) type = "q5_k";
  // llama.cpp's LLM_TYPE_70B: a llama of 80 layers whose key/value heads are shared
  if (modelType === "llama" && n === 80 && place.headGroups > 1 && (type === "q3_k" || type === "q4_k")) type = "q5_k";
  return type;
}
