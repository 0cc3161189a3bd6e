import { LayerArgumentError } from "../errors.js";

/**
 * A LoRA adapter's settings, named after peft's LoraConfig fields (camelCase here; PEFT's own
 * names in adapter_config.json, see peft_config.ts). Matching rules are peft's, so a config read
 * from a PEFT file adapts the same modules here as in Python.
 */
export interface LoraConfig {
  /** Rank r (PEFT `r`, default 8). */
  r?: number;
  /** The numerator of the scaling (PEFT `lora_alpha`, default 8): scaling = alpha / r, or alpha / sqrt(r) with rsLoRA. */
  alpha?: number;
  /** Dropout on the adapter's input while training (PEFT `lora_dropout`, default 0). */
  dropout?: number;
  /**
   * Which Linear layers get adapters, by their dotted name in the model (the checkpoint's names):
   * a list matches a name that equals an entry or ends with "." + entry ("q_proj" matches
   * "model.layers.0.self_attn.q_proj"); a string is a regular expression the whole name must match,
   * or "all-linear" for every Linear.
   */
  targetModules: readonly string[] | string;
  /** Names never adapted: same rules as targetModules (a list by suffix, a string as a whole-name regex). */
  excludeModules?: readonly string[] | string | null;
  /** Rank-stabilised LoRA: scaling = alpha / sqrt(r) (PEFT `use_rslora`). */
  useRslora?: boolean;
  /** Per-module ranks: pattern -> r, the first pattern matching the end of the name wins (PEFT `rank_pattern`). */
  rankPattern?: Readonly<Record<string, number>>;
  /** Per-module alphas, as rankPattern (PEFT `alpha_pattern`). */
  alphaPattern?: Readonly<Record<string, number>>;
  /** Only these layer indices (with a list targetModules), found as PEFT finds them (PEFT `layers_to_transform`). */
  layersToTransform?: number | readonly number[] | null;
  /** The name of the layer list whose index layersToTransform reads ("layers", "h"); default: the first numbered level. */
  layersPattern?: string | readonly string[] | null;
  /**
   * How fresh adapters start (PEFT `init_lora_weights`): true = A uniform in +-1/sqrt(in) (torch's
   * kaiming_uniform with a = sqrt(5)), B zero, so the model starts exactly as the base; "gaussian" =
   * A ~ N(0, 1/r), B zero; false = A and B both torch's Linear default (for tests: the adapter
   * changes the output from the start).
   */
  initLoraWeights?: boolean | "gaussian";
}

/** What one adapted layer uses: its rank, alpha, scaling and dropout. */
export interface LoraLayerSettings {
  readonly rank: number;
  readonly alpha: number;
  readonly scaling: number;
  readonly dropout: number;
}

/** A config with every default filled in and every value checked. */
export type ResolvedLoraConfig = Required<Omit<LoraConfig, "excludeModules" | "layersToTransform" | "layersPattern">> & {
  excludeModules: readonly string[] | string | null;
  layersToTransform: number | readonly number[] | null;
  layersPattern: string | readonly string[] | null;
};

export function resolveLoraConfig(config: LoraConfig, where = "LoRA config"): ResolvedLoraConfig {
  if (config === null || typeof config !== "object") throw new LayerArgumentError(`${where}: expected an object, found ${String(config)}`);
  const r = config.r ?? 8;
  const alpha = config.alpha ?? 8;
  const dropout = config.dropout ?? 0;
  checkRank(r, `${where}: r`);
  checkAlpha(alpha, `${where}: alpha`);
  if (typeof dropout !== "number" || !(dropout >= 0 && dropout < 1)) {
    throw new LayerArgumentError(`${where}: dropout must be a number in [0, 1), found ${String(dropout)}`);
  }
  const targets = config.targetModules;
  const isList = Array.isArray(targets) && targets.every((t) => typeof t === "string" && t.length > 0);
  if (!(isList && targets.length > 0) && !(typeof targets === "string" && targets.length > 0)) {
    throw new LayerArgumentError(
      `${where}: targetModules must be a non-empty list of module names or a regular expression string, found ${JSON.stringify(targets)}`,
    );
  }
  if (typeof targets === "string" && targets.toLowerCase() !== "all-linear") compilePattern(targets, `${where}: targetModules`);
  const exclude = config.excludeModules ?? null;
  if (exclude !== null && !(typeof exclude === "string" || (Array.isArray(exclude) && exclude.every((t) => typeof t === "string")))) {
    throw new LayerArgumentError(
      `${where}: excludeModules must be a list of names or a regular expression string, found ${JSON.stringify(exclude)}`,
    );
  }
  if (typeof exclude === "string") compilePattern(exclude, `${where}: excludeModules`);
  const rankPattern = checkPatterns(config.rankPattern ?? {}, `${where}: rankPattern`, checkRank);
  const alphaPattern = checkPatterns(config.alphaPattern ?? {}, `${where}: alphaPattern`, checkAlpha);
  const layers = config.layersToTransform ?? null;
  if (layers !== null && !(isIndex(layers) || (Array.isArray(layers) && layers.every(isIndex)))) {
    throw new LayerArgumentError(`${where}: layersToTransform must be a layer index or a list of them, found ${JSON.stringify(layers)}`);
  }
  const layersPattern = config.layersPattern ?? null;
  if (
    layersPattern !== null &&
    !(typeof layersPattern === "string" || (Array.isArray(layersPattern) && layersPattern.every((p) => typeof p === "string")))
  ) {
    throw new LayerArgumentError(`${where}: layersPattern must be a string or a list of strings, found ${JSON.stringify(layersPattern)}`);
  }
  const init = config.initLoraWeights ?? true;
  if (!(init === true || init === false || init === "gaussian")) {
    throw new LayerArgumentError(`${where}: initLoraWeights must be true, false or "gaussian", found ${JSON.stringify(init)}`);
  }
  return {
    r,
    alpha,
    dropout,
    targetModules: typeof targets === "string" ? targets : [...targets],
    excludeModules: exclude === null || typeof exclude === "string" ? exclude : [...exclude],
    useRslora: config.useRslora ?? false,
    rankPattern,
    alphaPattern,
    layersToTransform: layers === null || typeof layers === "number" ? layers : [...layers],
    layersPattern: layersPattern === null || typeof layersPattern === "string" ? layersPattern : [...layersPattern],
    initLoraWeights: init,
  };
}

/** The rank, alpha and scaling of the module with this name (rank/alpha patterns as peft's get_pattern_key). */
export function layerSettings(config: ResolvedLoraConfig, name: string): LoraLayerSettings {
  const rank = patternValue(config.rankPattern, name) ?? config.r;
  const alpha = patternValue(config.alphaPattern, name) ?? config.alpha;
  return { rank, alpha, scaling: config.useRslora ? alpha / Math.sqrt(rank) : alpha / rank, dropout: config.dropout };
}

/** A Python `re` pattern as a JavaScript RegExp (the common syntax is the same); errors name the setting. */
export function compilePattern(pattern: string, where: string, wrap = (p: string) => `^(?:${p})$`): RegExp {
  try {
    return new RegExp(wrap(pattern));
  } catch (error) {
    throw new LayerArgumentError(`${where}: ${JSON.stringify(pattern)} is not a regular expression (${(error as Error).message})`);
  }
}

function patternValue(patterns: Readonly<Record<string, number>>, name: string): number | undefined {
  for (const [pattern, value] of Object.entries(patterns)) {
    // peft: re.match(rf"(.*\.)?({key})$", name): the pattern matches a whole trailing part of the name.
    if (compilePattern(pattern, "pattern", (p) => `^(.*\\.)?(${p})$`).test(name)) return value;
  }
  return undefined;
}

function checkPatterns(
  patterns: Readonly<Record<string, number>>,
  where: string,
  check: (v: number, where: string) => void,
): Record<string, number> {
  if (patterns === null || typeof patterns !== "object" || Array.isArray(patterns)) {
    throw new LayerArgumentError(`${where}: expected an object of pattern -> number, found ${JSON.stringify(patterns)}`);
  }
  for (const [pattern, value] of Object.entries(patterns)) {
    compilePattern(pattern, where);
    check(value, `${where}[${JSON.stringify(pattern)}]`);
  }
  return { ...patterns };
}

function checkRank(r: number, where: string): void {
  if (!Number.isInteger(r) || r < 1) throw new LayerArgumentError(`${where} must be a positive integer, found ${String(r)}`);
}

function checkAlpha(alpha: number, where: string): void {
  if (typeof alpha !== "number" || !Number.isFinite(alpha) || alpha <= 0) {
    throw new LayerArgumentError(`${where} must be a positive number, found ${String(alpha)}`);
  }
}

function isIndex(v: unknown): boolean {
  return Number.isInteger(v) && (v as number) >= 0;
}
