import type { Backend, BackendBuffer } from "./backend.js";
import type { HostArray } from "./dtype.js";
import { cpuBackend } from "./cpu/backend.js";
import type { Tensor } from "./tensor.js";
import { registerCopy } from "./copies.js";

registerCopy(cpuBackend);

/**
 * Process-wide state: the default backend, the stack of tidy scopes, and whether autograd records.
 * Kept in one small object so the rules are easy to see.
 */
interface Scope {
  tensors: Tensor[];
}

/** A check queued on a backend that cannot read synchronously (see ops/checks.ts). */
export interface DeferredCheck {
  /** Values the check reads back when it settles (kept out of tidy; disposed after). */
  readonly values: Tensor;
  /** The error to throw for those values, or null when they pass. */
  readonly verdict: (values: ArrayLike<number>) => Error | null;
}

const state = {
  backend: null as Backend | null,
  scopes: [] as Scope[],
  gradEnabled: true,
  deferredChecks: [] as DeferredCheck[],
};

export function setBackend(backend: Backend): void {
  state.backend = backend;
}

/**
 * Runs fn with `backend` as the default for the tensors it creates (a model built on WebGPU), then
 * restores the previous default, also when fn throws.
 */
export function withBackend<T>(backend: Backend, fn: () => T): T {
  const previous = state.backend;
  state.backend = backend;
  try {
    return fn();
  } finally {
    state.backend = previous;
  }
}

/** Queues a check whose values can only be read asynchronously; the next read settles it. */
export function deferCheck(check: DeferredCheck): void {
  state.deferredChecks.push(check);
}

/**
 * Reads back every queued check and throws the first failure's error. Tensor.data() calls this
 * before reading, so a bad id found on an asynchronous backend surfaces at the next read.
 */
export async function settleDeferredChecks(): Promise<void> {
  if (state.deferredChecks.length === 0) return;
  const checks = state.deferredChecks.splice(0);
  let failure: Error | null = null;
  for (const { values, verdict } of checks) {
    try {
      if (!failure) {
        const view = values.view();
        failure = verdict(await values.backend.read(view.buffer));
      }
    } finally {
      values.dispose();
    }
  }
  if (failure) throw failure;
}

/**
 * Reads `buffer` of `backend` after settling the queued checks, in one device read where the
 * backend has `readMany` and every check lives on it (a decoding step then reads back once, not
 * once per check); otherwise the checks settle first, each with its own read.
 */
export async function readSettlingChecks(backend: Backend, buffer: BackendBuffer): Promise<HostArray> {
  const checks = state.deferredChecks;
  if (checks.length === 0 || !backend.readMany || checks.some((c) => c.values.backend !== backend)) {
    await settleDeferredChecks();
    return backend.read(buffer);
  }
  state.deferredChecks = [];
  let results: HostArray[];
  try {
    results = await backend.readMany([...checks.map((c) => c.values.view().buffer), buffer]);
  } finally {
    for (const c of checks) c.values.dispose();
  }
  for (let i = 0; i < checks.length; i++) {
    const failure = checks[i]!.verdict(results[i]!);
    if (failure) throw failure;
  }
  return results[checks.length]!;
}

/** The backend new tensors go to: the CPU backend unless setBackend chose another. */
export function getBackend(): Backend {
  return state.backend ?? cpuBackend;
}

export function isGradEnabled(): boolean {
  return state.gradEnabled;
}

/** Runs fn with autograd recording off (inference, optimizer updates). */
export function noGrad<T>(fn: () => T): T {
  const previous = state.gradEnabled;
  state.gradEnabled = false;
  try {
    return fn();
  } finally {
    state.gradEnabled = previous;
  }
}

/** Called by every new Tensor so the innermost tidy scope can free it. */
export function track(t: Tensor): void {
  const scope = state.scopes[state.scopes.length - 1];
  if (scope) scope.tensors.push(t);
}

/** Exempts tensors from the enclosing tidy scopes (they live until disposed by hand). */
export function keep<T extends Tensor>(t: T): T {
  t.kept = true;
  return t;
}

/**
 * Runs fn and disposes every tensor created inside it, except the tensors in its result (found in
 * any nesting of arrays and plain objects), tensors passed to keep(), and tensors the autograd graph
 * of a result still needs (freed by backward()). The survivors move to the enclosing scope.
 * An async fn is awaited: the scope stays open until its promise settles.
 */
export function tidy<T>(fn: () => T): T {
  const scope: Scope = { tensors: [] };
  state.scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    closeScope(scope, undefined);
    throw error;
  }
  if (result instanceof Promise) {
    return result.then(
      (value) => {
        closeScope(scope, value);
        return value;
      },
      (error) => {
        closeScope(scope, undefined);
        throw error;
      },
    ) as T;
  }
  closeScope(scope, result);
  return result;
}

function closeScope(scope: Scope, result: unknown): void {
  const index = state.scopes.lastIndexOf(scope);
  if (index >= 0) state.scopes.splice(index, 1);
  const parent = state.scopes[state.scopes.length - 1];
  if (typeof result === "object" && result !== null && isTensor(result) && !result.node) {
    // one result with no graph (every scope under noGrad): nothing else survives, no sets to build
    for (const t of scope.tensors) {
      if (t.kept || t.isDisposed) continue;
      if (t === result) parent?.tensors.push(t);
      else t.dispose();
    }
    return;
  }
  const results = new Set<Tensor>();
  collectTensors(result, results);
  const survivors = graphTensorsInScope(results, scope.tensors);
  for (const t of scope.tensors) {
    if (t.kept || t.isDisposed) continue;
    if (survivors.has(t)) {
      if (!results.has(t)) t.graphOwned = true;
      parent?.tensors.push(t);
    } else {
      t.dispose();
    }
  }
}

function collectTensors(value: unknown, out: Set<Tensor>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (isTensor(value)) {
    out.add(value);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectTensors(v, out, seen);
    return;
  }
  if (value instanceof Map) {
    for (const v of value.values()) collectTensors(v, out, seen);
    return;
  }
  if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value)) collectTensors(v, out, seen);
  }
}

/**
 * The results plus every tensor of this scope their autograd graphs reach (backward() will read
 * those). The walk stops at tensors made outside the scope, which this scope never frees, so
 * closing a scope costs what the scope made, not the size of the whole graph.
 */
function graphTensorsInScope(results: Set<Tensor>, scopeTensors: readonly Tensor[]): Set<Tensor> {
  const survivors = new Set(results);
  const stack = [...results];
  // made only when a result has a graph: under noGrad (decoding) no scope pays for it
  let inScope: Set<Tensor> | null = null;
  while (stack.length) {
    const node = stack.pop()!.node;
    if (!node) continue;
    inScope ??= new Set(scopeTensors);
    for (const list of [node.inputs, node.saved]) {
      for (const s of list) {
        if (inScope.has(s) && !survivors.has(s)) {
          survivors.add(s);
          stack.push(s);
        }
      }
    }
  }
  return survivors;
}

function isTensor(value: object): value is Tensor {
  return (value as { __isTensor?: boolean }).__isTensor === true;
}
