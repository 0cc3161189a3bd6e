import type { Arena } from "../memory/arena.js";
import {
  ACK,
  CLAIM,
  ARENA,
  ARGC,
  ASSIGN,
  controlWords,
  ERROR,
  FN,
  MAIL,
  MAX_ARGS,
  MODULE,
  QUIT,
  READY,
  REMAINING,
  SLEEPING,
  slot,
  workerSource,
} from "./control.js";
import { canBlock, startWorker, type WorkerHandle } from "./platform.js";

/** A compiled kernel module and its exported functions in the order calls name them. */
export interface KernelModule {
  module: object;
  names: readonly string[];
}

/** One call per thread: the first runs on the calling thread. */
export interface Job {
  module: number;
  fn: number;
  arena: Arena;
  /** Each thread's arguments; at most 1 + the pool's worker count entries. */
  parts: readonly (readonly number[])[];
}

/**
 * How long an idle worker spins for its next job before it sleeps, by default. Decoding runs a
 * matrix-vector product every 0.1-0.5 ms with JavaScript between them; a worker asleep in between
 * was woken for each and joined late (a VM's wake-up can take longer than the half it came for),
 * so two threads decoded GPT-2-small slower than one (20.8 against 29.9 tok/s, quiet machine).
 */
export const DEFAULT_SPIN_MS = 1;
/**
 * Jobs whose part on this thread took less than this leave the lag alone: the hand-off to a worker
 * that is spinning on a core of its own (5-20 us) is then as long as the part, so the wait says
 * nothing about whether the workers have cores. Counted, they held GPT-2-small's prefill on two
 * threads at a lag near 0.5 (median wait 0.9 of parts under 0.1 ms, 0.1 of those over 1 ms),
 * and half its GELUs ran on one thread.
 */
const LAG_MIN_OWN_MS = 0.1;
/** The lag past which the workers count as lagging (see ThreadPool.lagging). */
const LAGGING = 0.8;
/** How long a job while lagging waits for sleeping workers to claim their parts before it starts its own. */
const PROBE_WAKE_MS = 2;
/** How long the caller spins for the workers to finish before it sleeps (Node). */
const CALLER_SPIN = 20000;
/** How long to wait for a worker to start, or to take a new memory, before running without it. */
const START_TIMEOUT_MS = 10000;

/**
 * Worker threads that run WASM kernel calls on the heap's shared memories. The calling thread
 * takes part (thread 0); `run` returns when every part is done. Workers that are not ready yet
 * (still starting, or not yet holding a memory) get no part: a job then runs on fewer threads,
 * which changes no result, since every kernel splits its work so that each output element is
 * computed the same way whichever thread computes it.
 */
export class ThreadPool {
  readonly workers: number;
  private readonly control: Int32Array;
  private readonly args: Float64Array;
  private readonly handles: WorkerHandle[] = [];
  private generation = 0;
  /** Messages posted to the workers so far (memories and modules; the workers count what they took in ACK). */
  private mailed = 0;
  /** The mail count by which memory `i` / module `i` reached the workers (0: they started with it). */
  private readonly arenaMail: number[];
  private readonly moduleMail: number[];
  private closed = false;
  /**
   * Recent jobs' mean of (time this thread waited for workers after its own parts, stealing
   * included) / (time of its own parts): near 0 when the workers run beside it on cores of their
   * own, 1 or more when they start late or share its core (a machine busy with other work).
   */
  private lag = 0;
  private readonly block = canBlock();

  constructor(
    threads: number,
    /** The modules compiled so far, by index (a hole: not yet; addModule hands it over later). */
    modules: readonly (KernelModule | undefined)[],
    arenas: readonly Arena[],
    private readonly runLocal: (job: Job, args: readonly number[]) => void,
    spinMs = DEFAULT_SPIN_MS,
    /** Whether this thread runs the parts no worker has claimed once its own are done (see run); false makes every worker run its part (tests). */
    private readonly steal = true,
  ) {
    this.workers = threads - 1;
    this.control = new Int32Array(new SharedArrayBuffer(controlWords(this.workers) * 4));
    this.args = new Float64Array(new SharedArrayBuffer(Math.max(1, this.workers) * MAX_ARGS * 8));
    this.arenaMail = arenas.map(() => 0);
    this.moduleMail = Array.from(modules, () => 0);
    const source = workerSource(spinMs);
    for (let id = 0; id < this.workers; id++) {
      const init = {
        id,
        control: this.control.buffer,
        args: this.args.buffer,
        modules: modules.flatMap((m, index) => (m ? [{ index, module: m.module, names: m.names }] : [])),
        memories: arenas.map((a) => a.memory),
      };
      this.handles.push(startWorker(source, init, `llm-tensor-cpu-${id + 1}`));
    }
  }

  /** Resolves once every worker has started (or `timeoutMs` passed), without blocking this thread. */
  async started(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (let w = 0; w < this.workers; w++) {
      while (Atomics.load(this.control, slot(w) + READY) !== 1 && performance.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }

  /** Hands a new memory to every worker (they attach it before their next job on it). */
  addArena(arena: Arena): void {
    this.arenaMail[arena.index] = this.post({ memories: [arena.memory], modules: [] });
  }

  /** Hands a module compiled after the workers started to every worker (they instantiate it before their next job in it). */
  addModule(index: number, m: KernelModule): void {
    this.moduleMail[index] = this.post({ memories: [], modules: [{ index, module: m.module, names: m.names }] });
  }

  /** Posts one message to every worker and wakes them to take it; returns its mail count. */
  private post(message: { memories: object[]; modules: { index: number; module: object; names: readonly string[] }[] }): number {
    if (this.closed) return this.mailed;
    for (const h of this.handles) h.postMessage(message);
    this.mailed++;
    Atomics.store(this.control, MAIL, this.mailed);
    for (let w = 0; w < this.workers; w++) Atomics.notify(this.control, slot(w) + ASSIGN);
    return this.mailed;
  }

  /** Runs one job's parts, part 0 here and the rest on workers; returns when all are done, with how many parts workers ran. */
  run(job: Job): number {
    const { parts } = job;
    const helpers = this.closed
      ? []
      : this.available(Math.max(this.arenaMail[job.arena.index]!, this.moduleMail[job.module]!), parts.length - 1);
    const c = this.control;
    // Parts no worker can take run here, after part 0.
    const local = [parts[0]!, ...parts.slice(1 + helpers.length)];
    // A worker asleep (its spin ran out) takes a wake-up first, which says nothing of whether the
    // cores are free: such a job leaves the lag alone, unless the lag is what put the workers to
    // sleep (while lagging, small kernels run here alone and only every 16th splits, see
    // CpuRuntime.partsFor). That one waits for the workers to claim their parts before starting
    // its own, so it compares parts that started together: measured with the wake-up, every such
    // probe found the lag still high and two threads stayed on one for good (two threads decoded
    // TinyLlama over float16 at 0.71x llama.cpp's two, its 5632 x 2048 GEMVs as fast as one
    // thread's while the lag sat at 0.53-0.61).
    const probe = this.lagging;
    const asleep = helpers.some((w) => Atomics.load(c, slot(w) + SLEEPING) === 1);
    Atomics.store(c, REMAINING, helpers.length);
    this.generation++;
    helpers.forEach((w, i) => {
      const p = parts[i + 1]!;
      if (p.length > MAX_ARGS) throw new RangeError(`cpu threads: a kernel call takes at most ${MAX_ARGS} arguments, got ${p.length}`);
      const s = slot(w);
      c[s + MODULE] = job.module;
      c[s + FN] = job.fn;
      c[s + ARENA] = job.arena.index;
      c[s + ARGC] = p.length;
      this.args.set(p, w * MAX_ARGS);
      Atomics.store(c, s + CLAIM, 0);
      Atomics.store(c, s + ASSIGN, this.generation);
      Atomics.notify(c, s + ASSIGN);
    });
    if (probe) {
      const deadline = performance.now() + PROBE_WAKE_MS;
      while (helpers.some((w) => Atomics.load(c, slot(w) + CLAIM) === 0) && performance.now() < deadline);
    }
    const started = performance.now();
    for (const p of local) this.runLocal(job, p);
    const ownDone = performance.now();
    // Parts no worker has started by now run here: waiting for a worker still waking up (or one the
    // OS has not scheduled, on a busy machine) costs more than its part; a spinning worker claims
    // its part within microseconds, long before this thread is done with its own.
    let stolen = 0;
    helpers.forEach((w, i) => {
      if (!this.steal || Atomics.compareExchange(c, slot(w) + CLAIM, 0, 2) !== 0) return;
      this.runLocal(job, parts[i + 1]!);
      Atomics.sub(c, REMAINING, 1);
      stolen++;
    });
    if (helpers.length > stolen) this.wait();
    const own = ownDone - started;
    if (own >= LAG_MIN_OWN_MS && (probe || !asleep)) this.lag += (Math.min(4, (performance.now() - ownDone) / own) - this.lag) / 16;
    if (Atomics.load(c, ERROR) !== 0) {
      Atomics.store(c, ERROR, 0);
      throw new Error(`cpu threads: a worker failed in kernel ${job.module}:${job.fn}; this is a bug in @llm/tensor`);
    }
    return helpers.length - stolen;
  }

  /**
   * Whether workers have lately been of little help: they finished well after this thread, or not
   * at all. A split in two whose worker finishes `lag` of this thread's part after it takes (1 +
   * lag) / 2 of the one-thread time, so splitting pays up to a lag of 1; over 0.8 it is given up
   * (0.5 once, which a vCPU a third slower than the other crossed while splitting still gained).
   */
  get lagging(): boolean {
    return this.lag > LAGGING;
  }

  /** Stops the workers. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.stopper()();
  }

  /**
   * A function that stops the workers, holding nothing but them and the control block (so a
   * FinalizationRegistry can keep it without keeping the pool's owner alive).
   */
  stopper(): () => void {
    const { control, handles, workers } = this;
    return () => {
      Atomics.store(control, QUIT, 1);
      for (let w = 0; w < workers; w++) Atomics.notify(control, slot(w) + ASSIGN);
      for (const h of handles) h.terminate();
    };
  }

  /** Workers ready and holding what mail count `needed` brought (a job's memory and module), at most `want` of them. */
  private available(needed: number, want: number): number[] {
    const c = this.control;
    const out: number[] = [];
    for (let w = 0; w < this.workers && out.length < want; w++) {
      const s = slot(w);
      if (Atomics.load(c, s + READY) !== 1 || Atomics.load(c, s + ACK) < needed) {
        // Starting up, or taking a memory or module: wait for it where this thread may block.
        if (!this.block) continue;
        const deadline = performance.now() + START_TIMEOUT_MS;
        while (Atomics.load(c, s + READY) !== 1 && performance.now() < deadline) Atomics.wait(c, s + READY, 0, 50);
        for (let ack: number; (ack = Atomics.load(c, s + ACK)) < needed && performance.now() < deadline; )
          Atomics.wait(c, s + ACK, ack, 50);
        if (Atomics.load(c, s + READY) !== 1 || Atomics.load(c, s + ACK) < needed) continue;
      }
      out.push(w);
    }
    return out;
  }

  private wait(): void {
    const c = this.control;
    let spins = 0;
    for (let left: number; (left = Atomics.load(c, REMAINING)) !== 0; ) {
      if (++spins > CALLER_SPIN && this.block) Atomics.wait(c, REMAINING, left, 1);
    }
  }
}
