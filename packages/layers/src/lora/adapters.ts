import { keep, rand, randn, Rng, zeros, type Tensor } from "@llm/tensor";
import { LayerArgumentError } from "../errors.js";
import type { LanguageModel } from "../language_model.js";
import type { Module } from "../module.js";
import { layerSettings, resolveLoraConfig, type LoraConfig, type ResolvedLoraConfig } from "./config.js";
import { type AdaptableLayer, LoraLayer } from "./lora_layer.js";
import { findLoraTargets } from "./targets.js";

export interface AddLoraOptions {
  /** Seeds the fresh weights and the dropout masks (default 0). */
  seed?: number;
  /** Whether the adapter's tensors take gradients (default true for a new adapter). */
  trainable?: boolean;
}

/** An adapter's tensors for one layer, as a file holds them. */
export interface LoraLayerWeights {
  A: Tensor;
  B: Tensor;
}

const managers = new WeakMap<Module, LoraAdapters>();

/**
 * The LoRA adapters of one model (peft's LoraModel): adds named adapters to the Linear layers a
 * config picks, freezes the base (no gradients, so no optimizer state, for any base parameter),
 * switches which adapters run, merges them into the weights and back, and removes them.
 *
 *   const lora = LoraAdapters.of(model);
 *   lora.add("default", { r: 8, alpha: 16, targetModules: ["q_proj", "v_proj"] });
 *   const optimizer = new AdamW(lora.namedParameters());
 */
export class LoraAdapters {
  /** Adapted layers by name. */
  readonly layers = new Map<string, LoraLayer>();
  readonly configs = new Map<string, ResolvedLoraConfig>();
  private activeNames: readonly string[] = [];
  /** Base parameters' requiresGrad before the first adapter froze them, restored by unload(). */
  private frozen: [Tensor, boolean][] | null = null;
  private readonly rng: Rng;

  private constructor(readonly model: Module) {
    this.rng = new Rng(0x10ba);
  }

  /** The adapters of `model` (one set per model, made on first use). */
  static of(model: Module): LoraAdapters {
    let m = managers.get(model);
    if (!m) managers.set(model, (m = new LoraAdapters(model)));
    return m;
  }

  /** Adapter names, in the order they were added. */
  get names(): string[] {
    return [...this.configs.keys()];
  }

  /** The adapters forward applies (several add up, as peft's set_adapter with a list). */
  get active(): readonly string[] {
    return this.activeNames;
  }

  /**
   * A new adapter with fresh weights (per config.initLoraWeights) on every Linear the config
   * targets. The first adapter added becomes active; later ones wait for use().
   */
  add(name: string, config: LoraConfig, options: AddLoraOptions = {}): this {
    const resolved = resolveLoraConfig(config, `LoRA adapter "${name}"`);
    const rng = new Rng(options.seed ?? 0);
    const targets = findLoraTargets(this.model, resolved);
    const weights = new Map<string, LoraLayerWeights>();
    for (const [layer, linear] of targets) {
      const { rank } = layerSettings(resolved, layer);
      weights.set(layer, freshWeights(linear, rank, resolved.initLoraWeights, rng));
    }
    return this.attach(name, resolved, targets, weights, options.trainable ?? true);
  }

  /**
   * An adapter whose weights come from elsewhere (a PEFT file): `weights` must hold every layer the
   * config targets and nothing else; shapes are checked against each layer's rank. Takes the tensors.
   */
  addWeights(name: string, config: LoraConfig, weights: ReadonlyMap<string, LoraLayerWeights>, options: AddLoraOptions = {}): this {
    const resolved = resolveLoraConfig(config, `LoRA adapter "${name}"`);
    const targets = findLoraTargets(this.model, resolved);
    const wanted = new Set(targets.map(([layer]) => layer));
    const missing = [...wanted].filter((l) => !weights.has(l));
    const unexpected = [...weights.keys()].filter((l) => !wanted.has(l));
    if (missing.length || unexpected.length) {
      throw new LayerArgumentError(
        `LoRA adapter "${name}": the weights do not fit the layers its config targets` +
          (missing.length ? `; no weights for ${list(missing)}` : "") +
          (unexpected.length ? `; weights for layers the config does not target: ${list(unexpected)}` : ""),
      );
    }
    return this.attach(name, resolved, targets, weights, options.trainable ?? false);
  }

  private attach(
    name: string,
    config: ResolvedLoraConfig,
    targets: [string, AdaptableLayer][],
    weights: ReadonlyMap<string, LoraLayerWeights>,
    trainable: boolean,
  ): this {
    if (typeof name !== "string" || !/^[A-Za-z0-9_-]+$/.test(name)) {
      throw new LayerArgumentError(
        `LoRA: adapter names are letters, digits, "_" and "-" (they become part of parameter names), found ${JSON.stringify(name)}`,
      );
    }
    if (this.configs.has(name)) throw new LayerArgumentError(`LoRA: the model already has an adapter named "${name}"`);
    this.freezeBase();
    const added: [LoraLayer, string][] = [];
    try {
      for (const [layer, linear] of targets) {
        const w = weights.get(layer)!;
        const settings = layerSettings(config, layer);
        let lora = this.layers.get(layer);
        if (!lora) {
          if (linear.adapter !== null && !(linear.adapter instanceof LoraLayer)) {
            throw new LayerArgumentError(`LoRA: ${layer} already has an adapter of another kind attached`);
          }
          lora = (linear.adapter as LoraLayer | null) ?? new LoraLayer(linear, layer, this.rng);
        }
        const A = keep(w.A.requireGrad(trainable));
        const B = keep(w.B.requireGrad(trainable));
        lora.add(name, { ...settings, A, B });
        added.push([lora, layer]);
      }
    } catch (error) {
      for (const [lora] of added) lora.adapters.delete(name);
      throw error;
    }
    for (const [lora, layer] of added) {
      this.layers.set(layer, lora);
      lora.base.adapter = lora;
    }
    this.configs.set(name, config);
    if (this.activeNames.length === 0) this.use(name);
    return this;
  }

  /**
   * Which adapters forward applies: one name, several (their deltas add up), or none (the base
   * model alone, as peft's disable_adapter). Switch between generate calls to serve several
   * adapters from one base. Refused while adapters are merged (unmerge first).
   */
  use(names: string | readonly string[] | null): void {
    const list = names === null ? [] : typeof names === "string" ? [names] : [...names];
    for (const n of list) {
      if (!this.configs.has(n)) throw new LayerArgumentError(`LoRA: no adapter named "${n}" (the model has ${this.describeNames()})`);
    }
    if (this.mergedNames().length) {
      throw new LayerArgumentError(
        `LoRA: adapters ${list.join(", ")} cannot be switched while ${this.mergedNames().join(", ")} is merged; unmerge() first`,
      );
    }
    this.activeNames = list;
    for (const lora of this.layers.values()) lora.active = list;
  }

  /** Runs fn with other adapters active (null: the base model alone), then restores the previous ones. */
  withAdapters<T>(names: string | readonly string[] | null, fn: () => T): T {
    const previous = this.activeNames;
    this.use(names);
    try {
      return fn();
    } finally {
      this.use(previous);
    }
  }

  /**
   * The model as it is without adapters, as a LanguageModel whose forward runs with none active:
   * DPO's frozen reference for a LoRA policy, with no second copy of the weights.
   */
  withoutAdapters(): LanguageModel {
    const model = this.model as unknown as Partial<LanguageModel>;
    if (typeof model.forward !== "function" || typeof model.createCache !== "function" || !model.config) {
      throw new LayerArgumentError("LoRA: withoutAdapters() needs a model with forward, createCache and config (a LanguageModel)");
    }
    const lm = model as LanguageModel;
    return {
      config: lm.config,
      forward: (ids, options) => this.withAdapters(null, () => lm.forward(ids, options)),
      createCache: (options) => lm.createCache(options),
    };
  }

  /**
   * Every adapter tensor by name, as peft names them in memory without its "base_model.model."
   * prefix: "<layer>.lora_A.<adapter>.weight". Give these to an optimizer: nothing of the base.
   */
  namedParameters(adapter?: string): [string, Tensor][] {
    const names = adapter === undefined ? this.names : [this.check(adapter)];
    const out: [string, Tensor][] = [];
    for (const [layer, lora] of this.layers) {
      for (const n of names) {
        const w = lora.adapters.get(n);
        if (!w) continue;
        out.push([`${layer}.lora_A.${n}.weight`, w.A], [`${layer}.lora_B.${n}.weight`, w.B]);
      }
    }
    return out;
  }

  parameters(adapter?: string): Tensor[] {
    return this.namedParameters(adapter).map(([, t]) => t);
  }

  /** Whether an adapter's tensors take gradients (freeze one adapter while training another on top of it). */
  setTrainable(adapter: string, trainable: boolean): void {
    for (const [, p] of this.namedParameters(adapter)) {
      p.requireGrad(trainable);
      if (!trainable) p.zeroGrad();
    }
  }

  /** Number of adapter values (of one adapter, or all). */
  parameterCount(adapter?: string): number {
    return this.parameters(adapter).reduce((n, t) => n + t.size, 0);
  }

  /** The layers an adapter sits on, with its weights and settings there. */
  layersOf(adapter: string): [string, LoraLayer][] {
    this.check(adapter);
    return [...this.layers].filter(([, lora]) => lora.adapters.has(adapter));
  }

  /** The config an adapter was made with. */
  config(adapter: string): ResolvedLoraConfig {
    return this.configs.get(this.check(adapter))!;
  }

  /**
   * Adds the active adapters' deltas (B A * scaling) into the base weights, so forward costs what
   * the base model costs; unmerge() takes them out again.
   */
  merge(adapters: string | readonly string[] = this.activeNames): void {
    const list = typeof adapters === "string" ? [adapters] : [...adapters];
    for (const n of list) this.check(n);
    for (const lora of this.layers.values()) for (const n of list) if (lora.adapters.has(n)) lora.merge(n);
  }

  /** Takes every merged delta back out of the weights (last merged first). */
  unmerge(): void {
    for (const lora of this.layers.values()) for (const n of [...lora.merged].reverse()) lora.unmerge(n);
  }

  /** Adapters merged into the weights now. */
  mergedNames(): string[] {
    const out = new Set<string>();
    for (const lora of this.layers.values()) for (const n of lora.merged) out.add(n);
    return [...out];
  }

  /** Removes one adapter (unmerged first) and frees its tensors. */
  delete(adapter: string): void {
    this.check(adapter);
    for (const [layer, lora] of [...this.layers]) {
      lora.unmerge(adapter);
      const w = lora.adapters.get(adapter);
      if (!w) continue;
      w.A.dispose();
      w.B.dispose();
      lora.adapters.delete(adapter);
      if (lora.adapters.size === 0) {
        lora.base.adapter = null;
        this.layers.delete(layer);
      }
    }
    this.configs.delete(adapter);
    this.activeNames = this.activeNames.filter((n) => n !== adapter);
    for (const lora of this.layers.values()) lora.active = this.activeNames;
    if (this.configs.size === 0) this.thawBase();
  }

  /** peft's merge_and_unload: the active adapters become part of the weights and every adapter goes. */
  mergeAndUnload(): void {
    this.merge();
    for (const lora of this.layers.values()) lora.merged.length = 0; // now simply part of the weights
    this.unload();
  }

  /** Removes every adapter (merged deltas are taken out first) and gives the base back its gradients. */
  unload(): void {
    this.unmerge();
    for (const n of this.names) this.delete(n);
    this.activeNames = [];
    this.thawBase();
  }

  private freezeBase(): void {
    if (this.frozen) return;
    this.frozen = this.model.parameters().map((p) => [p, p.requiresGrad]);
    for (const p of this.model.parameters()) {
      p.requireGrad(false);
      p.zeroGrad();
    }
  }

  private thawBase(): void {
    if (!this.frozen) return;
    for (const [p, flag] of this.frozen) if (!p.isDisposed) p.requireGrad(flag);
    this.frozen = null;
  }

  private check(adapter: string): string {
    if (!this.configs.has(adapter))
      throw new LayerArgumentError(`LoRA: no adapter named "${adapter}" (the model has ${this.describeNames()})`);
    return adapter;
  }

  private describeNames(): string {
    return this.configs.size ? this.names.map((n) => `"${n}"`).join(", ") : "none";
  }
}

/** peft's initial weights (reset_lora_parameters), drawn from our seeded generator. */
function freshWeights(linear: AdaptableLayer, rank: number, init: boolean | "gaussian", rng: Rng): LoraLayerWeights {
  const backend = linear.weight.backend;
  // torch's kaiming_uniform_(a = sqrt(5)) on [out, in] is uniform in +-1/sqrt(in).
  const uniform = (shape: number[], fanIn: number) => rand(shape, { rng, backend, low: -1 / Math.sqrt(fanIn), high: 1 / Math.sqrt(fanIn) });
  const aShape = [rank, linear.inFeatures];
  const bShape = [linear.outFeatures, rank];
  if (init === false) return { A: uniform(aShape, linear.inFeatures), B: uniform(bShape, rank) };
  const A = init === "gaussian" ? randn(aShape, { rng, backend, std: 1 / rank }) : uniform(aShape, linear.inFeatures);
  return { A, B: zeros(bShape, { backend }) };
}

function list(names: readonly string[]): string {
  const shown = names.slice(0, 8).join(", ");
  return names.length > 8 ? `${shown} (and ${names.length - 8} more)` : shown;
}
