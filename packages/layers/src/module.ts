import { DTypeError, keep, type Rng, type Tensor } from "@llm/tensor";
import { StateDictError, type ShapeMismatch } from "./errors.js";

export interface LoadStateDictOptions {
  /** Throw on missing or unexpected keys (default true). Mis-shaped tensors always throw. */
  strict?: boolean;
  /** Named in error messages (e.g. the file). */
  source?: string;
  /**
   * Move the given tensors into the parameters (Tensor.adopt) instead of copying them: the model
   * then holds its weights once, and the dict's tensors it loads are disposed. Default false (copy).
   */
  take?: boolean;
}

export interface LoadStateDictResult {
  missing: string[];
  unexpected: string[];
}

/**
 * A tree of named parameters and submodules, like torch.nn.Module. Names join with "." into the
 * keys of stateDict(), so a module tree that mirrors a checkpoint's layout loads it key for key.
 */
export class Module {
  training = true;
  private readonly ownParameters = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  /** Registers a trainable parameter; kept out of tidy scopes, since it outlives every forward. */
  protected addParameter(name: string, value: Tensor): Tensor {
    if (value.dtype === "float32") value.requireGrad(true);
    this.ownParameters.set(name, keep(value));
    return value;
  }

  protected addModule<M extends Module>(name: string, module: M): M {
    this.children.set(name, module);
    return module;
  }

  /** Direct submodules by name. */
  namedChildren(): [string, Module][] {
    return [...this.children];
  }

  /** Every parameter with its dotted name; a tensor shared by two modules (a tied head) is listed once. */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    const visit = (module: Module, path: string) => {
      for (const [name, p] of module.ownParameters) {
        if (seen.has(p)) continue;
        seen.add(p);
        out.push([path + name, p]);
      }
      // An unnamed child (OPT's fc1/fc2 sit in the layer itself) adds no level to the names.
      for (const [name, child] of module.children) visit(child, name ? `${path}${name}.` : path);
    };
    visit(this, prefix);
    return out;
  }

  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Parameters by name (the tensors themselves, not copies). */
  stateDict(): Record<string, Tensor> {
    return Object.fromEntries(this.namedParameters());
  }

  /**
   * Copies (or with `take`, moves) tensors into the parameters of the same names. float16/bfloat16
   * values are widened to the parameter's float32. Every missing, unexpected and mis-shaped key is
   * reported at once, before any parameter changes.
   */
  loadStateDict(dict: Readonly<Record<string, Tensor>>, options: LoadStateDictOptions = {}): LoadStateDictResult {
    const strict = options.strict ?? true;
    const params = new Map(this.namedParameters());
    const missing = [...params.keys()].filter((k) => !(k in dict));
    const unexpected = Object.keys(dict).filter((k) => !params.has(k));
    const mismatched: ShapeMismatch[] = [];
    for (const [key, p] of params) {
      const value = dict[key];
      if (value && !sameShape(value.shape, p.shape)) mismatched.push({ key, expected: p.shape, found: value.shape });
    }
    if (mismatched.length || (strict && (missing.length || unexpected.length))) {
      throw new StateDictError(strict ? missing : [], strict ? unexpected : [], mismatched, options.source);
    }
    for (const key of params.keys()) {
      const value = dict[key];
      if (value && (value.dtype === "int32" || value.dtype === "bool")) {
        throw new DTypeError(`loadStateDict: ${key}: expected a floating-point tensor, found ${value.dtype}`);
      }
    }
    for (const [key, p] of params) {
      const value = dict[key];
      if (!value) continue;
      if (options.take) p.adopt(value);
      else if (value.dtype === p.dtype) p.assign(value);
      else {
        const cast = value.cast(p.dtype);
        p.assign(cast);
        cast.dispose();
      }
    }
    return { missing, unexpected };
  }

  /** Draws fresh values: each module type knows its own (normal weights, zero biases, unit norm gains). */
  initialize(rng: Rng, std = 0.02): void {
    this.resetParameters(rng, std);
    for (const child of this.children.values()) child.initialize(rng, std);
  }

  /** Overridden by modules that own parameters. */
  protected resetParameters(_rng: Rng, _std: number): void {}

  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Frees every parameter. */
  dispose(): void {
    for (const p of this.parameters()) p.dispose();
  }
}

/** A list of modules named "0", "1", ... (torch's ModuleList), as checkpoints number layers. */
export class ModuleList<M extends Module> extends Module implements Iterable<M> {
  readonly items: readonly M[];
  constructor(items: readonly M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.addModule(String(i), m));
  }
  get length(): number {
    return this.items.length;
  }
  [Symbol.iterator](): Iterator<M> {
    return this.items[Symbol.iterator]();
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** A module that only groups named submodules (a checkpoint's "transformer" or "model" level). */
export class ModuleDict extends Module {
  constructor(entries: Readonly<Record<string, Module>>) {
    super();
    for (const [name, module] of Object.entries(entries)) this.addModule(name, module);
  }
}

/**
 * Modules by checkpoint name: a module, or nested plain objects and arrays of them (which become
 * ModuleDict and ModuleList levels); null and undefined entries are left out (an optional part).
 */
export type ModuleTree = Module | readonly ModuleTree[] | { readonly [name: string]: ModuleTree | null | undefined };

/** The Module a tree describes: how a model names its parts as its checkpoint does, in one literal. */
export function moduleFromTree(tree: ModuleTree): Module {
  if (tree instanceof Module) return tree;
  if (Array.isArray(tree)) return new ModuleList((tree as readonly ModuleTree[]).map(moduleFromTree));
  const entries: Record<string, Module> = {};
  for (const [name, value] of Object.entries(tree as Record<string, ModuleTree | null | undefined>)) {
    if (value !== null && value !== undefined) entries[name] = moduleFromTree(value);
  }
  return new ModuleDict(entries);
}
