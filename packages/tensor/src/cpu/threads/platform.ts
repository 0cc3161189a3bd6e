/**
 * What the host offers for threads, found without importing anything Node-only (this file is part
 * of the browser-safe main entry): Node's worker_threads through process.getBuiltinModule, a
 * browser's Worker from a Blob URL.
 */

/** A started worker: enough to send it messages and stop it. */
export interface WorkerHandle {
  postMessage(message: unknown): void;
  terminate(): void;
}

interface NodeWorkerThreads {
  Worker: new (
    source: string,
    options: { eval: true; workerData: unknown; name?: string },
  ) => WorkerHandle & { unref(): void; on(event: string, fn: (e: unknown) => void): void };
}

interface NodeProcess {
  versions?: { node?: string };
  getBuiltinModule?: (name: string) => unknown;
  env?: Record<string, string | undefined>;
}

function nodeProcess(): NodeProcess | undefined {
  const p = (globalThis as { process?: NodeProcess }).process;
  return p?.versions?.node ? p : undefined;
}

/** The machine's logical cores (1 where the host does not say). */
export function hardwareThreads(): number {
  const os = nodeProcess()?.getBuiltinModule?.("node:os") as { availableParallelism?: () => number; cpus?: () => unknown[] } | undefined;
  const n =
    os?.availableParallelism?.() ??
    os?.cpus?.().length ??
    (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator?.hardwareConcurrency;
  return Number.isInteger(n) && n! > 0 ? n! : 1;
}

/** LLM_TENSOR_THREADS from the environment, where there is one and it is a positive integer. */
export function threadsFromEnv(): number | undefined {
  const value = nodeProcess()?.env?.LLM_TENSOR_THREADS;
  if (value === undefined || value === "") return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`LLM_TENSOR_THREADS: expected a positive integer, found '${value}'`);
  return n;
}

/**
 * Why threads cannot run here, or null when they can: they need SharedArrayBuffer (a browser
 * page must be cross-origin isolated for it), Atomics, and a way to start workers.
 */
export function threadsUnavailable(): string | null {
  if (typeof SharedArrayBuffer === "undefined" || typeof Atomics === "undefined") {
    return "SharedArrayBuffer is not available (in a browser, serve the page cross-origin isolated: COOP same-origin and COEP require-corp)";
  }
  const p = nodeProcess();
  if (p)
    return p.getBuiltinModule?.("node:worker_threads") ? null : "this Node has no process.getBuiltinModule (Node 20.16 or later has it)";
  const g = globalThis as { Worker?: unknown; Blob?: unknown; URL?: { createObjectURL?: unknown } };
  if (typeof g.Worker !== "function" || typeof g.Blob !== "function" || typeof g.URL?.createObjectURL !== "function") {
    return "this host cannot start Web Workers";
  }
  return null;
}

/** Starts a worker running `source` (plain JavaScript); `init` reaches it as its first input. */
export function startWorker(source: string, init: unknown, name: string): WorkerHandle {
  const p = nodeProcess();
  if (p) {
    const wt = p.getBuiltinModule!("node:worker_threads") as NodeWorkerThreads;
    const worker = new wt.Worker(source, { eval: true, workerData: init, name });
    worker.unref(); // an idle pool must not keep the process alive
    worker.on("error", () => {}); // a failure is reported through the control block (see pool.ts)
    return worker;
  }
  const g = globalThis as unknown as {
    Worker: new (url: string, options?: { name?: string }) => WorkerHandle;
    Blob: new (parts: string[], options: { type: string }) => object;
    URL: { createObjectURL(blob: object): string; revokeObjectURL(url: string): void };
  };
  const url = g.URL.createObjectURL(new g.Blob([source], { type: "text/javascript" }));
  const worker = new g.Worker(url, { name });
  worker.postMessage(init);
  g.URL.revokeObjectURL(url);
  return worker;
}

let mainMayWait: boolean | undefined;

/** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
export function canBlock(): boolean {
  if (mainMayWait !== undefined) return mainMayWait;
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    mainMayWait = true;
  } catch {
    mainMayWait = false;
  }
  return mainMayWait;
}
