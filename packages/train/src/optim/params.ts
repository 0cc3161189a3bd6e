import type { Tensor } from "@llm/tensor";
import { TrainError } from "../errors.js";

/** Parameters by name (names key the optimizer's saved state), or a bare list (named "0", "1", ...). */
export type NamedParameters = Iterable<readonly [string, Tensor]> | Readonly<Record<string, Tensor>>;
export type ParameterList = NamedParameters | readonly Tensor[];

/** A group shares hyperparameters; fields left out take the optimizer's defaults. */
export interface ParamGroupSpec<H> {
  params: ParameterList;
  lr?: number;
  hyper?: Partial<H>;
  weightDecay?: number;
}

export interface ParamGroup<H> {
  readonly params: readonly (readonly [string, Tensor])[];
  /** Current learning rate (a schedule rewrites it each step). */
  lr: number;
  /** The learning rate the group started with; schedules scale it. */
  readonly baseLr: number;
  weightDecay: number;
  readonly hyper: H;
}

export function namedList(params: ParameterList, offset = 0): [string, Tensor][] {
  if (Array.isArray(params)) {
    const list = params as readonly unknown[];
    if (list.every((p) => isTensor(p))) return (list as Tensor[]).map((t, i) => [String(offset + i), t]);
    return (list as [string, Tensor][]).map(([n, t]) => [n, t]);
  }
  if (Symbol.iterator in (params as object)) return [...(params as Iterable<readonly [string, Tensor]>)].map(([n, t]) => [n, t]);
  return Object.entries(params as Record<string, Tensor>);
}

export function isGroupSpec<H>(x: unknown): x is ParamGroupSpec<H> {
  return typeof x === "object" && x !== null && !isTensor(x) && "params" in x;
}

function isTensor(x: unknown): x is Tensor {
  return typeof x === "object" && x !== null && (x as { __isTensor?: boolean }).__isTensor === true;
}

/**
 * The usual split for AdamW: matrices (and embeddings) decay; vectors (norm gains, biases) do not.
 * Returns two groups for the optimizer.
 */
export function decayGroups(params: ParameterList, weightDecay: number): ParamGroupSpec<never>[] {
  const named = namedList(params);
  const decay = named.filter(([, t]) => t.rank >= 2);
  const noDecay = named.filter(([, t]) => t.rank < 2);
  return [
    { params: decay, weightDecay },
    { params: noDecay, weightDecay: 0 },
  ];
}

export function checkUniqueNames(groups: readonly ParamGroup<unknown>[], op: string): void {
  const seen = new Set<string>();
  for (const g of groups) {
    for (const [name, t] of g.params) {
      if (seen.has(name)) throw new TrainError(`${op}: parameter name "${name}" appears twice; names key the optimizer state`);
      seen.add(name);
      if (t.dtype !== "float32") throw new TrainError(`${op}: parameter "${name}" must be float32, got ${t.dtype}`);
    }
  }
}
