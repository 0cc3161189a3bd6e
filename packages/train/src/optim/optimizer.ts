import { keep, noGrad, tidy, type Tensor } from "@llm/tensor";
import { TrainError, checkNumber } from "../errors.js";
import { checkUniqueNames, isGroupSpec, namedList, type ParamGroup, type ParamGroupSpec, type ParameterList } from "./params.js";

/** What an optimizer saves: tensors by "<param name>.<slot>" and JSON-safe scalars. */
export interface OptimizerState {
  readonly tensors: Record<string, Tensor>;
  readonly meta: { step: number; paramSteps: Record<string, number>; groups: { lr: number; weightDecay: number }[] };
}

/**
 * The shared machinery of optimizers: parameter groups, per-parameter state slots (kept outside
 * tidy scopes), zeroGrad, and saving/restoring state by parameter name.
 */
export abstract class Optimizer<H extends object = object> {
  readonly groups: ParamGroup<H>[];
  /** Number of step() calls so far. */
  stepCount = 0;
  protected readonly slots = new Map<string, Record<string, Tensor>>();
  /** Steps each parameter has taken (a parameter without a gradient does not step, as in torch). */
  protected readonly paramSteps = new Map<string, number>();

  constructor(
    params: ParameterList | readonly ParamGroupSpec<H>[],
    defaults: { lr: number; weightDecay: number; hyper: H },
    protected readonly name: string,
  ) {
    checkNumber(name, "lr", defaults.lr, (v) => v >= 0 && Number.isFinite(v), "a finite number >= 0");
    const specs: ParamGroupSpec<H>[] =
      Array.isArray(params) && params.length > 0 && isGroupSpec<H>(params[0])
        ? [...(params as ParamGroupSpec<H>[])]
        : [{ params: params as ParameterList }];
    let offset = 0;
    this.groups = specs.map((spec) => {
      const named = namedList(spec.params, offset);
      offset += named.length;
      const lr = spec.lr ?? defaults.lr;
      return {
        params: named,
        lr,
        baseLr: lr,
        weightDecay: spec.weightDecay ?? defaults.weightDecay,
        hyper: { ...defaults.hyper, ...spec.hyper },
      };
    });
    checkUniqueNames(this.groups, name);
    if (this.groups.every((g) => g.params.length === 0)) throw new TrainError(`${name}: expected at least one parameter, got none`);
  }

  /** Every parameter, in group order. */
  get parameters(): Tensor[] {
    return this.groups.flatMap((g) => g.params.map(([, t]) => t));
  }

  /** Applies one update to every parameter that has a gradient. */
  step(): void {
    this.stepCount++;
    noGrad(() => {
      for (const group of this.groups) {
        for (const [name, p] of group.params) {
          if (!p.grad) continue;
          const grad = p.grad;
          const slots = this.slotsFor(name);
          const t = (this.paramSteps.get(name) ?? 0) + 1;
          this.paramSteps.set(name, t);
          const next = tidy(() => {
            const r = this.update(p, grad, slots, group, t);
            for (const t of Object.values(r.slots)) keep(t);
            return r;
          });
          for (const [key, t] of Object.entries(next.slots)) {
            if (slots[key] !== t) slots[key]?.dispose();
            slots[key] = t;
          }
          p.assign(next.param);
          next.param.dispose();
        }
      }
    });
  }

  /** Clears every parameter's gradient. */
  zeroGrad(): void {
    for (const p of this.parameters) p.zeroGrad();
  }

  /** The new parameter value and state slots for one parameter (run without autograd, inside tidy). */
  protected abstract update(
    p: Tensor,
    grad: Tensor,
    slots: Readonly<Record<string, Tensor>>,
    group: ParamGroup<H>,
    t: number,
  ): { param: Tensor; slots: Record<string, Tensor> };

  private slotsFor(name: string): Record<string, Tensor> {
    let s = this.slots.get(name);
    if (!s) this.slots.set(name, (s = {}));
    return s;
  }

  /** The state to save beside a checkpoint (tensors are the live ones: save before the next step). */
  state(): OptimizerState {
    const tensors: Record<string, Tensor> = {};
    for (const [name, slots] of this.slots) for (const [key, t] of Object.entries(slots)) tensors[`${name}.${key}`] = t;
    return {
      tensors,
      meta: {
        step: this.stepCount,
        paramSteps: Object.fromEntries(this.paramSteps),
        groups: this.groups.map((g) => ({ lr: g.lr, weightDecay: g.weightDecay })),
      },
    };
  }

  /** Restores what state() returned (possibly read back from a file); takes ownership of the tensors. */
  loadState(state: OptimizerState): void {
    const names = new Set(this.groups.flatMap((g) => g.params.map(([n]) => n)));
    if (state.meta.groups.length !== this.groups.length) {
      throw new TrainError(
        `${this.name}.loadState: expected state for ${this.groups.length} parameter groups, found ${state.meta.groups.length}`,
      );
    }
    for (const slots of this.slots.values()) for (const t of Object.values(slots)) t.dispose();
    this.slots.clear();
    for (const [key, t] of Object.entries(state.tensors)) {
      const dot = key.lastIndexOf(".");
      const name = key.slice(0, dot);
      if (dot < 0 || !names.has(name)) throw new TrainError(`${this.name}.loadState: state "${key}" names no parameter of this optimizer`);
      this.slotsFor(name)[key.slice(dot + 1)] = keep(t);
    }
    this.stepCount = state.meta.step;
    this.paramSteps.clear();
    for (const [name, t] of Object.entries(state.meta.paramSteps)) this.paramSteps.set(name, t);
    state.meta.groups.forEach((g, i) => {
      this.groups[i]!.lr = g.lr;
      this.groups[i]!.weightDecay = g.weightDecay;
    });
  }

  /** Frees the state tensors. */
  dispose(): void {
    for (const slots of this.slots.values()) for (const t of Object.values(slots)) t.dispose();
    this.slots.clear();
  }
}
