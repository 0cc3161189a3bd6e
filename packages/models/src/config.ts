import { activationByName, type ActivationName } from "@llm/layers";
import { previewJson } from "@llm/tensor";
import { ModelConfigError } from "./errors.js";

export type RawConfig = Readonly<Record<string, unknown>>;

/** The largest integer a config may hold for a size or count: token ids and positions are int32. */
export const MAX_CONFIG_INT = 2 ** 31 - 1;

/**
 * Tighter bounds by key name, for every architecture: a few hundred bytes of config.json must not
 * make us build millions of layers, or precompute tables of a billion head dims, before the
 * parameter estimate can refuse the model. Each bound is far past any published model (the deepest
 * have ~130 layers; head dims are <= 256; widths <= ~25,000).
 */
export const INT_KEY_LIMITS: readonly { readonly keys: RegExp; readonly max: number }[] = [
  { keys: /^(n_layers?|num_(hidden_)?layers|num_decoder_layers)$/, max: 1024 },
  { keys: /^(head_dim|rotary_dim|kv_channels|n_heads?|num_(attention|key_value|kv)_heads|multi_query_group_num)$/, max: 65536 },
  // the model width bounds the head dim derived from it, and rotary tables are computed from that
  // when the model is built (the widest published models are ~25,000 wide)
  { keys: /^(hidden_size|n_embd|n_embed|d_model|word_embed_proj_dim)$/, max: 1_048_576 },
];

/**
 * Ranges of numbers by key name, for every architecture: values outside them do not fail to load,
 * they make every logit NaN (a negative epsilon) or quietly change the model.
 */
export const NUMBER_KEY_RANGES: readonly { readonly keys: RegExp; readonly ok: (v: number) => boolean; readonly expected: string }[] = [
  { keys: /(^|_)eps(ilon)?$/, ok: (v) => v > 0, expected: "a finite number > 0" },
  { keys: /^(rope_theta|rotary_emb_base)$/, ok: (v) => v > 0, expected: "a finite number > 0" },
  { keys: /^(rotary_pct|partial_rotary_factor)$/, ok: (v) => v > 0 && v <= 1, expected: "a number in (0, 1]" },
  { keys: /(dropout|pdrop)$/, ok: (v) => v >= 0 && v <= 1, expected: "a number in [0, 1]" },
  // a standard deviation of initial weights past 1 overflows the activations of any deep model
  { keys: /^(initializer_range|init_std)$/, ok: (v) => v >= 0 && v <= 1, expected: "a number in [0, 1]" },
  { keys: /(^|_)(scale|factor)$/, ok: (v) => v > 0, expected: "a finite number > 0" },
];

/**
 * Typed reads of a config.json with errors that name the model type, the key, what was expected
 * and what was found. `null` counts as absent, as Hugging Face configs write it.
 */
export class ConfigReader {
  /** Every value read, defaults filled in: what a saved config.json must spell out. */
  private readonly resolved: Record<string, unknown> = {};
  private readonly nested = new Map<string, ConfigReader>();
  /** Keys read with float() / floatList(): transformers types them float, so a saved config writes 30.0, not 30. */
  private readonly floats = new Set<string>();

  constructor(
    readonly raw: RawConfig,
    readonly modelType: string,
  ) {}

  /**
   * The config with every value this reader resolved written out, so a saved config.json means
   * the same model to readers whose defaults differ from ours (Hugging Face's often do).
   */
  resolvedConfig(): Record<string, unknown> {
    const out: Record<string, unknown> = { ...this.raw, ...this.resolved };
    for (const [key, child] of this.nested) if (this.has(key)) out[key] = child.resolvedConfig();
    return out;
  }

  private record<T>(key: string, value: T): T {
    this.resolved[key] = value;
    return value;
  }

  private fail(key: string, expected: string, found: unknown): never {
    throw new ModelConfigError(`${this.modelType} config: "${key}" must be ${expected}, found ${previewJson(found)}`);
  }

  /** Whether the build has read this key (through any typed read). */
  wasRead(key: string): boolean {
    return Object.hasOwn(this.resolved, key) || this.nested.has(key);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /**
   * A positive integer (sizes, counts); `fallback` when absent, an error when absent without one.
   * At most MAX_CONFIG_INT (ids and sizes are int32), and less for keys with a tighter bound
   * (layer counts, heads, head dims: INT_KEY_LIMITS).
   */
  int(key: string, fallback?: number): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) this.fail(key, "a positive integer", this.raw[key]);
    const max = INT_KEY_LIMITS.find((rule) => rule.keys.test(key))?.max ?? MAX_CONFIG_INT;
    if (v > max) this.fail(key, `an integer in [1, ${max}]`, v);
    return this.record(key, v);
  }

  /** A finite number; keys with a known range (epsilons, rotary fractions, ...: NUMBER_KEY_RANGES) are checked against it. */
  number(key: string, fallback?: number): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    const range = NUMBER_KEY_RANGES.find((rule) => rule.keys.test(key));
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, range?.expected ?? "a finite number", this.raw[key]);
    if (range && !range.ok(v)) this.fail(key, range.expected, v);
    return this.record(key, v);
  }

  /** A finite number that transformers types as a float: a saved config.json writes it 30.0, not 30. */
  float(key: string, fallback?: number): number {
    const v = this.number(key, fallback);
    this.floats.add(key);
    return v;
  }

  bool(key: string, fallback?: boolean): boolean {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== "boolean") this.fail(key, "true or false", this.raw[key]);
    return this.record(key, v);
  }

  string(key: string, fallback?: string): string {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== "string") this.fail(key, "a string", this.raw[key]);
    return this.record(key, v);
  }

  /** A nested object (MPT's attn_config, rope_parameters); empty when absent. */
  object(key: string): ConfigReader {
    const v = this.has(key) ? this.raw[key] : {};
    if (typeof v !== "object" || v === null || Array.isArray(v)) this.fail(key, "an object", this.raw[key]);
    const child = this.nested.get(key) ?? new ConfigReader(v as RawConfig, `${this.modelType} ${key}`);
    this.nested.set(key, child);
    return child;
  }

  /** An activation by the names configs use ("gelu_new", "swish", ...). */
  activation(key: string, fallback: string): ActivationName {
    const name = this.string(key, fallback);
    try {
      return activationByName(name);
    } catch {
      this.fail(key, "one of gelu, gelu_new, gelu_pytorch_tanh, gelu_fast, gelu_tanh, relu, silu, swish", name);
    }
  }

  /** Rejects a value we do not implement, naming it. */
  require(key: string, ok: boolean, expected: string): void {
    if (!ok) this.fail(key, expected, this.raw[key]);
  }

  /**
   * Dotted paths of the keys read with float() or floatList() ("rope_parameters.factor"):
   * transformers types them float, and a saved config.json writes them so (30.0, not 30).
   */
  floatKeys(): string[] {
    const nested = [...this.nested].filter(([key]) => this.has(key)).flatMap(([key, child]) => child.floatKeys().map((k) => `${key}.${k}`));
    return [...this.floats, ...nested];
  }

  /** A list of finite numbers that transformers types as floats (longrope's short_factor); `fallback` when absent. */
  floatList(key: string, fallback?: readonly number[]): number[] {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "number" && Number.isFinite(x)))
      this.fail(key, "a list of finite numbers", this.raw[key]);
    this.floats.add(key);
    return this.record(key, [...(v as number[])]);
  }

  /** A list of strings (layer_types); `fallback` when absent. */
  strings(key: string, fallback?: readonly string[]): string[] {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) this.fail(key, "a list of strings", this.raw[key]);
    return this.record(key, [...(v as string[])]);
  }

  /** Checks that one size divides another (hidden size by heads). */
  divisible(key: string, value: number, by: number, byKey: string): void {
    if (value % by !== 0) {
      throw new ModelConfigError(`${this.modelType} config: "${key}" (${value}) must be divisible by "${byKey}" (${by})`);
    }
  }
}

/** Rotary base from either config style: `rope_parameters.rope_theta` (transformers 5) or `rope_theta`. */
export function ropeTheta(config: ConfigReader, fallback = 10000): number {
  const params = config.object("rope_parameters");
  if (params.has("rope_theta")) return params.number("rope_theta");
  if (config.has("rotary_emb_base")) return config.number("rotary_emb_base");
  return config.number("rope_theta", fallback);
}

/** The config with older key names (`from`) copied to the names we read (`to`) where those are absent. */
export function withAliases(raw: RawConfig, aliases: Readonly<Record<string, string>>): RawConfig {
  const out: Record<string, unknown> = { ...raw };
  for (const [from, to] of Object.entries(aliases)) {
    if ((out[to] === undefined || out[to] === null) && out[from] !== undefined && out[from] !== null) out[to] = out[from];
  }
  return out;
}
