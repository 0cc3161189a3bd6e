import { loadSafetensors, noGrad, readWholeFile, saveSafetensors, type Backend, type CheckpointFiles, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { Module } from "../module.js";
import { LoraAdapters, type LoraLayerWeights } from "./adapters.js";
import { resolveLoraConfig, type LoraConfig } from "./config.js";
import type { AdaptableLayer } from "./lora_layer.js";
import { pythonJson } from "./python_json.js";
import { findLoraTargets, namedModules } from "./targets.js";

/** The two files of a PEFT adapter folder. */
export const ADAPTER_CONFIG_FILE = "adapter_config.json";
export const ADAPTER_WEIGHTS_FILE = "adapter_model.safetensors";

/** peft's prefix of every saved key: the PeftModel's base_model (LoraModel) and its model. */
const PEFT_PREFIX = "base_model.model.";

/** The peft version whose adapter_config.json fields and defaults this writes (see docs/alignment.md). */
export const PEFT_FORMAT_VERSION = "0.21.0";

/**
 * Every field peft 0.21's LoraConfig writes, with its default (LoraConfig().to_dict()); what we
 * write starts from these, so peft reads every field it expects.
 */
const PEFT_LORA_DEFAULTS: Readonly<Record<string, unknown>> = {
  alora_invocation_tokens: null,
  alpha_pattern: {},
  arrow_config: null,
  auto_mapping: null,
  base_model_name_or_path: null,
  bias: "none",
  corda_config: null,
  ensure_weight_tying: false,
  eva_config: null,
  exclude_modules: null,
  fan_in_fan_out: false,
  inference_mode: true,
  init_lora_weights: true,
  kasa_config: null,
  layer_replication: null,
  layers_pattern: null,
  layers_to_transform: null,
  loftq_config: {},
  lora_alpha: 8,
  lora_bias: false,
  lora_dropout: 0.0,
  lora_ga_config: null,
  megatron_config: null,
  megatron_core: "megatron.core",
  modules_to_save: null,
  monteclora_config: null,
  peft_type: "LORA",
  peft_version: PEFT_FORMAT_VERSION,
  qalora_group_size: 16,
  r: 8,
  rank_pattern: {},
  revision: null,
  target_modules: null,
  target_parameters: null,
  task_type: "CAUSAL_LM",
  trainable_token_indices: null,
  use_bdlora: null,
  use_dora: false,
  use_qalora: false,
  use_rslora: false,
  velora_config: null,
};

/** peft's EMBEDDING_LAYER_NAMES: a targeted layer of one of these names has its base weights saved with the adapter. */
const EMBEDDING_LAYER = /(^|\.)(embed_tokens|lm_head)$/;

/** peft's test for "an embedding layer is targeted" (get_peft_model_state_dict, save_embedding_layers="auto"). */
function embeddingTargeted(targets: readonly string[] | string, adapters: LoraAdapters): boolean {
  if (typeof targets !== "string") return targets.includes("embed_tokens") || targets.includes("lm_head");
  if (targets.toLowerCase() === "all-linear") return false;
  const whole = new RegExp(`^(?:${targets})$`);
  return namedModules(adapters.model).some(([n]) => EMBEDDING_LAYER.test(n) && whole.test(n));
}

/** Fields that are floats in peft's dataclass: written as Python writes floats (0.0, not 0). */
const FLOAT_FIELDS = new Set(["lora_dropout"]);

/** The key of one adapter tensor in adapter_model.safetensors, as peft saves it. */
export function peftKey(layer: string, which: "A" | "B"): string {
  return `${PEFT_PREFIX}${layer}.lora_${which}.weight`;
}

/** An adapter as its two files hold it: adapter_config.json's contents and the tensors by peft key. */
export interface PeftAdapter {
  readonly config: Readonly<Record<string, unknown>>;
  readonly tensors: Readonly<Record<string, Tensor>>;
}

export interface ToPeftOptions {
  /** adapter_config.json's base_model_name_or_path (default: what the adapter was loaded with, else null). */
  baseModelNameOrPath?: string | null;
}

/** adapter_config.json fields an adapter was loaded with, written back when it is saved again. */
const loadedConfigs = new WeakMap<LoraAdapters, Map<string, Readonly<Record<string, unknown>>>>();

/**
 * An adapter in peft's layout: every field peft's LoraConfig writes (ours set from the adapter's
 * config; fields we do not use kept as the loaded file had them) and tensors under peft's keys.
 */
export function toPeftAdapter(adapters: LoraAdapters, name: string, options: ToPeftOptions = {}): PeftAdapter {
  const config = adapters.config(name);
  const layers = adapters.layersOf(name);
  const loaded = loadedConfigs.get(adapters)?.get(name) ?? {};
  const tensors: Record<string, Tensor> = {};
  for (const [layer, lora] of layers) {
    const w = lora.adapters.get(name)!;
    tensors[peftKey(layer, "A")] = w.A;
    tensors[peftKey(layer, "B")] = w.B;
  }
  // peft saves a targeted lm_head's own weights too ("save_embedding_layers" "auto"), as base_layer.
  if (embeddingTargeted(config.targetModules, adapters)) {
    for (const [layer, lora] of layers) {
      if (!EMBEDDING_LAYER.test(layer)) continue;
      tensors[`${PEFT_PREFIX}${layer}.base_layer.weight`] = lora.base.weight;
      const bias = (lora.base as { bias?: Tensor | null }).bias;
      if (bias) tensors[`${PEFT_PREFIX}${layer}.base_layer.bias`] = bias;
    }
  }
  const targets = config.targetModules;
  const json: Record<string, unknown> = {
    ...PEFT_LORA_DEFAULTS,
    ...loaded,
    r: config.r,
    lora_alpha: config.alpha,
    lora_dropout: config.dropout,
    // peft resolves "all-linear" to the names it adapted and saves those.
    target_modules: typeof targets === "string" && targets.toLowerCase() === "all-linear" ? layers.map(([l]) => l) : targets,
    exclude_modules: config.excludeModules,
    use_rslora: config.useRslora,
    rank_pattern: config.rankPattern,
    alpha_pattern: config.alphaPattern,
    layers_to_transform: config.layersToTransform,
    layers_pattern: config.layersPattern,
    init_lora_weights: config.initLoraWeights,
    // peft's flag for Conv1D-style [in, out] weights (GPT-2), which it sets itself for them anyway.
    fan_in_fan_out: layers.some(([, lora]) => lora.base.layout === "in_out"),
    peft_type: "LORA",
    inference_mode: true,
    base_model_name_or_path:
      options.baseModelNameOrPath !== undefined ? options.baseModelNameOrPath : (loaded.base_model_name_or_path ?? null),
  };
  return { config: json, tensors };
}

/** The adapter's two files as bytes: adapter_config.json as peft writes it, adapter_model.safetensors. */
export async function peftAdapterFiles(
  adapters: LoraAdapters,
  name: string,
  options: ToPeftOptions = {},
): Promise<Record<string, Uint8Array>> {
  const { config, tensors } = toPeftAdapter(adapters, name, options);
  return {
    [ADAPTER_CONFIG_FILE]: new TextEncoder().encode(pythonJson(config, FLOAT_FIELDS)),
    [ADAPTER_WEIGHTS_FILE]: await saveSafetensors(tensors, { format: "pt" }),
  };
}

/** adapter_config.json's contents as a LoraConfig; features this LoRA does not have are errors naming the field. */
export function loraConfigFromPeft(json: Readonly<Record<string, unknown>>, source = ADAPTER_CONFIG_FILE): LoraConfig {
  const where = `${source}`;
  if (json === null || typeof json !== "object" || Array.isArray(json)) throw new LayerArgumentError(`${where}: expected a JSON object`);
  if (json.peft_type !== "LORA")
    throw new LayerArgumentError(`${where}: peft_type: expected "LORA", found ${JSON.stringify(json.peft_type)}`);
  const unsupported: [string, (v: unknown) => boolean, string][] = [
    ["use_dora", (v) => v === true, "DoRA"],
    ["lora_bias", (v) => v === true, "a trained bias in lora_B"],
    ["bias", (v) => v !== undefined && v !== "none", "trained base biases"],
    ["modules_to_save", (v) => Array.isArray(v) && v.length > 0, "fully trained extra modules"],
    ["layer_replication", (v) => v != null, "layer replication"],
    ["trainable_token_indices", (v) => v != null, "trainable tokens"],
    ["target_parameters", (v) => Array.isArray(v) && v.length > 0, "adapters on parameters"],
    ["use_qalora", (v) => v === true, "QALoRA"],
    ["alora_invocation_tokens", (v) => v != null, "activated LoRA"],
    [
      "init_lora_weights",
      (v) => typeof v === "string" && /^(pissa|olora|corda|loftq|lora_ga)/i.test(v),
      "an initialisation that changes the base weights (save it converted to plain LoRA in peft)",
    ],
  ];
  for (const [field, bad, what] of unsupported) {
    if (bad(json[field]))
      throw new LayerArgumentError(
        `${where}: ${field} = ${JSON.stringify(json[field])} asks for ${what}, which this LoRA does not support`,
      );
  }
  const targets = json.target_modules;
  if (!(typeof targets === "string" || Array.isArray(targets))) {
    throw new LayerArgumentError(
      `${where}: target_modules: expected a list of module names or a regex string, found ${JSON.stringify(targets)}`,
    );
  }
  const init = json.init_lora_weights;
  return {
    r: json.r as number,
    alpha: json.lora_alpha as number,
    dropout: (json.lora_dropout as number | undefined) ?? 0,
    targetModules: targets as string[] | string,
    excludeModules: (json.exclude_modules as string[] | string | null | undefined) ?? null,
    useRslora: json.use_rslora === true,
    rankPattern: (json.rank_pattern as Record<string, number> | undefined) ?? {},
    alphaPattern: (json.alpha_pattern as Record<string, number> | undefined) ?? {},
    layersToTransform: (json.layers_to_transform as number | number[] | null | undefined) ?? null,
    layersPattern: (json.layers_pattern as string | string[] | null | undefined) ?? null,
    initLoraWeights: init === false ? false : init === "gaussian" ? "gaussian" : true,
  };
}

export interface LoadPeftOptions {
  /** Whether the adapter's tensors take gradients (default false, as peft's is_trainable). */
  trainable?: boolean;
  /** Named in error messages. */
  source?: string;
}

/**
 * Adds an adapter read from peft's layout to `model` (keys with or without peft's
 * "base_model.model." prefix, as transformers' own integration saves them). Every key must name a
 * layer the config targets and every targeted layer must have its A and B; errors name them.
 * Takes ownership of the tensors (float16/bfloat16 ones are widened).
 */
export function addPeftAdapter(model: Module, name: string, adapter: PeftAdapter, options: LoadPeftOptions = {}): LoraAdapters {
  const source = options.source ?? "adapter";
  const config = loraConfigFromPeft(adapter.config, `${source}/${ADAPTER_CONFIG_FILE}`);
  const weights = new Map<string, Partial<LoraLayerWeights>>();
  const baseWeights: [string, "weight" | "bias", Tensor][] = [];
  const strange: string[] = [];
  for (const [key, value] of Object.entries(adapter.tensors)) {
    const base = /^(?:base_model\.model\.)?(.+)\.base_layer\.(weight|bias)$/.exec(key);
    if (base) {
      baseWeights.push([base[1]!, base[2] as "weight" | "bias", value]);
      continue;
    }
    const m = /^(?:base_model\.model\.)?(.+)\.lora_(A|B)\.weight$/.exec(key);
    if (!m) {
      strange.push(key);
      continue;
    }
    const entry = weights.get(m[1]!) ?? {};
    entry[m[2] as "A" | "B"] = value.dtype === "float32" ? value : value.cast("float32");
    weights.set(m[1]!, entry);
  }
  if (strange.length) {
    throw new LayerArgumentError(
      `${source}/${ADAPTER_WEIGHTS_FILE}: keys that are not LoRA A/B weights (expected "<module>.lora_A.weight" / "<module>.lora_B.weight"): ${strange.slice(0, 8).join(", ")}`,
    );
  }
  const complete = new Map<string, LoraLayerWeights>();
  for (const [layer, w] of weights) {
    if (!w.A || !w.B)
      throw new LayerArgumentError(
        `${source}/${ADAPTER_WEIGHTS_FILE}: ${layer} has lora_${w.A ? "A" : "B"} but no lora_${w.A ? "B" : "A"}`,
      );
    complete.set(layer, { A: w.A, B: w.B });
  }
  const adapters = LoraAdapters.of(model);
  // Base weights saved with the adapter (a targeted lm_head's): they must fit a layer the adapter is on.
  const targeted = new Map(findLoraTargets(model, resolveLoraConfig(config, `${source}/${ADAPTER_CONFIG_FILE}`)));
  for (const [layer, which, value] of baseWeights) {
    const target = targeted.get(layer) as (AdaptableLayer & { bias?: Tensor | null }) | undefined;
    const into = which === "weight" ? target?.weight : target?.bias;
    if (!into || into.shape.join() !== value.shape.join()) {
      throw new LayerArgumentError(
        `${source}/${ADAPTER_WEIGHTS_FILE}: ${layer}.base_layer.${which} [${value.shape.join(", ")}] fits no ${which} of an adapted layer${into ? ` (the model's is [${into.shape.join(", ")}])` : ""}`,
      );
    }
  }
  try {
    adapters.addWeights(name, config, complete, { trainable: options.trainable ?? false });
  } catch (error) {
    if (error instanceof LayerArgumentError) throw new LayerArgumentError(`${source}: ${error.message}`);
    throw error;
  }
  // peft loads them into the base layer (the same values unless the vocabulary was resized or the head trained).
  noGrad(() => {
    for (const [layer, which, value] of baseWeights) {
      const target = targeted.get(layer) as AdaptableLayer & { bias?: Tensor | null };
      (which === "weight" ? target.weight : target.bias!).assign(value);
      value.dispose();
    }
  });
  let byName = loadedConfigs.get(adapters);
  if (!byName) loadedConfigs.set(adapters, (byName = new Map()));
  byName.set(name, { ...adapter.config });
  return adapters;
}

/** Reads a PEFT adapter folder through CheckpointFiles (a folder on disk, bytes in memory, a server). */
export async function readPeftAdapter(files: CheckpointFiles, options: { backend?: Backend } = {}): Promise<PeftAdapter> {
  const where = files.location ?? "adapter";
  const configBytes = await readWholeFile(files, ADAPTER_CONFIG_FILE);
  if (!configBytes) throw new LayerArgumentError(`${where}: expected ${ADAPTER_CONFIG_FILE}, found none (is this a PEFT adapter folder?)`);
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(new TextDecoder().decode(configBytes)) as Record<string, unknown>;
  } catch (error) {
    throw new LayerArgumentError(`${where}/${ADAPTER_CONFIG_FILE}: not valid JSON (${(error as Error).message})`);
  }
  const weightBytes = await readWholeFile(files, ADAPTER_WEIGHTS_FILE);
  if (!weightBytes) {
    const legacy = (await files.size("adapter_model.bin")) !== null;
    throw new LayerArgumentError(
      `${where}: expected ${ADAPTER_WEIGHTS_FILE}, found none${legacy ? " (only adapter_model.bin, a pickle: re-save it with safe_serialization=True)" : ""}`,
    );
  }
  const tensors = loadSafetensors(weightBytes, { source: `${where}/${ADAPTER_WEIGHTS_FILE}`, dtype: "float32", backend: options.backend });
  return { config, tensors };
}
