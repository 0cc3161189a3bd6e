import type { Arena } from "../memory/arena.js";
import type { WasmHeap } from "../memory/heap.js";
import { ThreadPool } from "../threads/pool.js";
import { canBlock, threadsUnavailable } from "../threads/platform.js";
import { compileModule, compileModules, moduleName, PROBE_MODULE, type CompiledModule, type KernelRef } from "./modules.js";

type KernelFn = (...args: number[]) => void;

interface Instantiator {
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** What a runtime was asked for and what it found. */
export interface RuntimeOptions {
  threads: number;
  fma: boolean;
  /** Work (multiply-adds, or elements) below which a kernel does not split off another thread. */
  minWorkPerThread: number;
  /** How long idle workers spin for the next call before they sleep (ThreadPool's DEFAULT_SPIN_MS if absent). */
  spinMs?: number;
}

let noticed = false;

const Registry = (globalThis as { FinalizationRegistry?: typeof FinalizationRegistry }).FinalizationRegistry;
const stopWhenCollected = Registry ? new Registry<() => void>((stop) => stop()) : null;

/**
 * Work (multiply-adds or elements) below which a kernel runs on one thread while the workers lag:
 * GPT-2-small's decoding products are 0.6M-2.4M, its head 39M, a TinyLlama layer's 4M-12M.
 */
const LAGGING_WORK = 1 << 24;
/** Multiply-adds a matrix-vector product gives each thread at least (see partsForMatvec): 16 MB of float32 weight. */
const MATVEC_WORK_PER_PART = 4 * 2 ** 20;

/**
 * Counts of resident kernel calls by name, of parts that ran on worker threads (tests read them),
 * and of operations that fell back off the resident kernels (see countFallback).
 */
export const residentStats = { calls: new Map<string, number>(), workerParts: 0, fallbacks: new Map<string, number>() };

/**
 * Notes that a backend with WebAssembly on ran `what` on a slower path (a JS loop, or a kernel
 * that stages its operands) because no resident kernel took it: a layout, dtype or shape the
 * resident kernels do not cover. CpuBackend.kernelCounts reports these.
 */
export function countFallback(what: string): void {
  residentStats.fallbacks.set(what, (residentStats.fallbacks.get(what) ?? 0) + 1);
}

/**
 * The resident kernels' machinery for one CPU backend: its heap, the compiled modules instantiated
 * on each of the heap's memories, and the worker threads. `call` runs one kernel split into parts
 * (one per thread); the parts write disjoint outputs, so the split never changes a result.
 */
export class CpuRuntime {
  readonly threads: number;
  readonly fma: boolean;
  readonly minWorkPerThread: number;
  private readonly spinMs: number | undefined;
  private lagProbe = 0;
  /** The modules compiled so far, by index (each on its first call, or all at once: see the constructor). */
  private readonly modules: (CompiledModule | undefined)[] = [];
  private readonly usable: boolean;
  /** This thread's functions per memory and module: [arena][module][fn], each instantiated on first use. */
  private readonly local: KernelFn[][][] = [];
  private pool: ThreadPool | null = null;

  constructor(
    readonly heap: WasmHeap,
    options: RuntimeOptions,
  ) {
    let threads = Math.max(1, options.threads);
    if (threads > 1 && !heap.shared) {
      const why = threadsUnavailable() ?? "its memories cannot be shared";
      if (!noticed) {
        noticed = true;
        console.warn(`@llm/tensor: the CPU backend runs on one thread instead of ${threads}: ${why}`);
      }
      threads = 1;
    }
    this.threads = threads;
    this.fma = options.fma;
    this.minWorkPerThread = options.minWorkPerThread;
    this.spinMs = options.spinMs;
    // Each module compiles when one of its kernels first runs, where this thread may compile
    // synchronously whatever the size; a browser page's main thread may not (it is also the thread
    // that may not block), so there every module compiles now, or none does and callers take the
    // JS kernels (CpuBackend.ready() compiles them asynchronously before this).
    if (canBlock()) {
      this.usable = this.moduleAt(PROBE_MODULE, false) !== null;
    } else {
      const all = compileModules(heap.shared, options.fma);
      this.usable = all !== null;
      if (all) this.modules.push(...all);
    }
    heap.listen(this);
  }

  /** A new memory of the heap: the workers must hold it too. */
  addArena(arena: Arena): void {
    this.pool?.addArena(arena);
  }

  /** The kernel modules compiled for this runtime so far (each on its first call), in module order. */
  get compiledModules(): string[] {
    return this.modules.flatMap((m, i) => (m ? [moduleName(i)] : []));
  }

  /** False where the kernels could not be compiled (no WebAssembly SIMD): callers take their JS path. */
  get ready(): boolean {
    return this.usable;
  }

  /**
   * Runs `ref` on memory `arena` once per part, part 0 on this thread and the others on workers;
   * returns when all are done.
   */
  call(ref: KernelRef, arena: Arena, parts: readonly (readonly number[])[]): void {
    if (parts.length === 0) return;
    residentStats.calls.set(ref.name, (residentStats.calls.get(ref.name) ?? 0) + 1);
    this.moduleAt(ref.module); // compiled before ref.fn is read: the build names its exports
    if (parts.length === 1 || this.threads === 1) {
      const fn = this.fn(ref, arena);
      for (const p of parts) fn(...p);
      return;
    }
    residentStats.workerParts += this.ensurePool().run({ module: ref.module, fn: ref.fn, arena, parts });
  }

  /** The kernel's function on this thread for memory `arena`. */
  fn(ref: KernelRef, arena: Arena): KernelFn {
    const set = (this.local[arena.index] ??= []);
    return (set[ref.module] ??= this.instantiate(ref.module, arena))[ref.fn]!;
  }

  /**
   * How many parts to split `work` into: one per `minWorkPerThread` at most, and no more than the
   * threads; `units` (rows, column groups) caps it too.
   */
  partsFor(work: number, units: number): number {
    // While the workers lag (other work holds the cores), small kernels (a decoding step's
    // matrix-vector products) run on this thread alone, but every 16th still splits, to notice
    // when the workers keep up again. minWorkPerThread 0 (tests) always splits.
    if (this.minWorkPerThread > 0 && work < LAGGING_WORK && this.pool?.lagging && ++this.lagProbe % 16 !== 0) return 1;
    return Math.max(1, Math.min(this.threads, units, Math.floor(work / this.minWorkPerThread)));
  }

  /**
   * partsFor for a float32 matrix-vector product (one row times a weight: decoding), which reads
   * its weight once and is bound by memory: each part gets at least MATVEC_WORK_PER_PART
   * multiply-adds. Splitting a GPT-2-small layer's 0.6-2.4M across two threads decoded slower
   * than one thread on a 2-vCPU machine (22-28 against 39-41 tok/s: the vCPUs read memory no
   * faster together, and a polling worker competes with the engine's own background threads);
   * with only its 39M-multiply-add head split, two threads decoded at 43-49 against one's 39-41.
   * The stored-weight GEMVs decode halves or blocks as they read, bound by their instructions, so
   * they split as other kernels do (a float16 GPT-2-small on two threads: 47.4 tok/s that way,
   * 33.0 under this rule). minWorkPerThread 0 (tests) still splits everything.
   */
  partsForMatvec(work: number, units: number): number {
    if (this.minWorkPerThread === 0) return this.partsFor(work, units);
    return Math.max(1, Math.min(this.partsFor(work, units), Math.floor(work / MATVEC_WORK_PER_PART)));
  }

  /** Starts the worker threads now and resolves once they are running (see CpuBackend.ready). */
  async start(): Promise<void> {
    if (this.threads > 1) await this.ensurePool().started();
  }

  /** Stops the worker threads (a later threaded call starts them again). */
  close(): void {
    this.pool?.close();
    this.pool = null;
    stopWhenCollected?.unregister(this);
  }

  private ensurePool(): ThreadPool {
    if (this.pool === null) {
      this.pool = new ThreadPool(
        this.threads,
        this.modules,
        this.heap.arenas,
        (job, args) => {
          (this.fn({ module: job.module, fn: job.fn, name: "" }, job.arena) as KernelFn)(...args);
        },
        this.spinMs,
        // minWorkPerThread 0 (tests): every worker runs the part it is given, so the threaded paths run
        this.minWorkPerThread > 0,
      );
      // a backend dropped without close() still stops its workers once it is collected
      stopWhenCollected?.register(this, this.pool.stopper(), this);
    }
    return this.pool;
  }

  /** Module `i` on memory `arena`: its functions in export order. */
  private instantiate(i: number, arena: Arena): KernelFn[] {
    const m = this.moduleAt(i)!;
    const api = (globalThis as unknown as { WebAssembly: Instantiator }).WebAssembly;
    const exports = new api.Instance(m.module, { env: { memory: arena.memory } }).exports;
    return m.names.map((n) => exports[n] as KernelFn);
  }

  /**
   * Module `i`, compiled now if it is not yet (and handed to the workers). Where `required`, a
   * module that will not compile is an error: the probe compiled, so the engine has what it needs.
   */
  private moduleAt(i: number, required = true): CompiledModule | null {
    const held = this.modules[i];
    if (held !== undefined) return held;
    const m = compileModule(i, this.heap.shared, this.fma);
    if (m === null) {
      if (!required) return null;
      throw new Error(`cpu backend: kernel module '${moduleName(i)}' did not compile; this is a bug in @llm/tensor`);
    }
    this.modules[i] = m;
    this.pool?.addModule(i, m);
    return m;
  }
}

/** Splits [0, n) into `parts` contiguous ranges whose inner bounds are multiples of `align`. */
export function splitRange(n: number, parts: number, align: number): [number, number][] {
  const units = Math.ceil(n / align);
  const out: [number, number][] = [];
  for (let p = 0; p < parts; p++) {
    const start = Math.min(n, Math.floor((units * p) / parts) * align);
    const end = p === parts - 1 ? n : Math.min(n, Math.floor((units * (p + 1)) / parts) * align);
    if (end > start) out.push([start, end]);
  }
  return out;
}

let current: CpuRuntime | null = null;

/** Makes `runtime` the one kernels use (the backend whose method is running sets it). */
export function useRuntime(runtime: CpuRuntime | null): void {
  current = runtime;
}

/** The running backend's runtime; null where it has none (WASM off or unavailable). */
export function activeRuntime(): CpuRuntime | null {
  return current;
}
