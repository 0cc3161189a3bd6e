import { activationByName, type ActivationName } from "@llm/layers";
import { ModelConfigError } from "./errors.js";

export type RawConfig = Readonly<Record<string, unknown>>;

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
    throw new ModelConfigError(`${this.modelType} config: "${key}" must be ${expected}, found ${JSON.stringify(found) ?? "nothing"}`);
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  /** A positive integer (sizes, counts); `fallback` when absent, an error when absent without one. */
  int(key: string, fallback?: number): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 1) this.fail(key, "a positive integer", this.raw[key]);
    return this.record(key, v);
  }

  number(key: string, fallback?: number): number {
    const v = this.has(key) ? this.raw[key] : fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) this.fail(key, "a finite number", this.raw[key]);
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

/** Rejects rope scaling (linear, dynamic, yarn, llama3): only the default rotary is implemented. */
export function requireDefaultRope(config: ConfigReader): void {
  const params = config.object("rope_parameters");
  const type = params.has("rope_type") ? params.string("rope_type") : "default";
  params.require("rope_type", type === "default", `"default" (rope scaling is not supported)`);
  config.require("rope_scaling", !config.has("rope_scaling"), "null (rope scaling is not supported)");
}

/** The config with older key names (`from`) copied to the names we read (`to`) where those are absent. */
export function withAliases(raw: RawConfig, aliases: Readonly<Record<string, string>>): RawConfig {
  const out: Record<string, unknown> = { ...raw };
  for (const [from, to] of Object.entries(aliases)) {
    if ((out[to] === undefined || out[to] === null) && out[from] !== undefined && out[from] !== null) out[to] = out[from];
  }
  return out;
}
