/**
 * The control block the calling thread and the workers share (an Int32Array on a
 * SharedArrayBuffer), and the worker's program. A job is one WASM kernel call per thread: the
 * caller writes each worker's function and arguments into that worker's own slots, then bumps the
 * worker's `assign` word and wakes it; the worker claims the part, runs the call and counts
 * `remaining` down. The caller, once done with its own part, claims and runs any part no worker
 * has started (a worker the OS has not scheduled yet, on a busy machine), so a late worker never
 * holds a job up. No slot is written while its worker may still read it, so there are no torn jobs.
 */

/** Words of the block shared by all. */
export const REMAINING = 0;
export const ERROR = 1;
/** How many messages (memories, modules) have been posted to the workers so far. */
export const MAIL = 2;
export const QUIT = 3;

/** Per worker w, words from slot(w): */
export const ASSIGN = 0;
export const MODULE = 1;
export const FN = 2;
export const ARENA = 3;
export const ARGC = 4;
/** 1 once the worker has compiled its instances and waits for jobs. */
export const READY = 5;
/** The MAIL count this worker has taken in. */
export const ACK = 6;
/**
 * 0 while the assigned part waits for someone to run it; whoever swaps in 1 (the worker) or 2 (the
 * calling thread, done with its own part and tired of waiting) runs it.
 */
export const CLAIM = 7;
/** 1 while the worker sleeps in Atomics.wait (its spin ran out): a job then waits on its wake-up first. */
export const SLEEPING = 8;
const SLOT_WORDS = 9;
const HEADER_WORDS = 16;

/** Arguments per call at most (float64 slots, one row per worker). */
export const MAX_ARGS = 24;

export function slot(w: number): number {
  return HEADER_WORDS + w * SLOT_WORDS;
}

export function controlWords(workers: number): number {
  return slot(workers);
}

/**
 * The worker, as source text (it runs from a string: no file to locate, in Node or a browser).
 * It instantiates every kernel module it is given on every memory it is given, then loops: wait
 * (spinning for `spinMs` first, since the next job usually follows soon) for its assign word to
 * change, run the call, count down. When memories or modules are posted (a module compiles on its
 * first call) it returns to its event loop to receive them, then resumes.
 */
export function workerSource(spinMs: number): string {
  return `"use strict";
const REMAINING = ${REMAINING}, ERROR = ${ERROR}, MAIL = ${MAIL}, QUIT = ${QUIT};
const ASSIGN = ${ASSIGN}, MODULE = ${MODULE}, FN = ${FN}, ARENA = ${ARENA}, ARGC = ${ARGC}, READY = ${READY}, ACK = ${ACK}, CLAIM = ${CLAIM}, SLEEPING = ${SLEEPING};
const MAX_ARGS = ${MAX_ARGS}, SPIN_MS = ${spinMs};
function start(init, onMessage) {
  const ctl = new Int32Array(init.control);
  const args = new Float64Array(init.args);
  const base = ${HEADER_WORDS} + init.id * ${SLOT_WORDS};
  const argBase = init.id * MAX_ARGS;
  const modules = []; // by index, with holes for those not compiled yet
  const memories = [];
  const instances = []; // [memory][module][fn]
  const instantiate = (a, i) => {
    const exports = new WebAssembly.Instance(modules[i].module, { env: { memory: memories[a] } }).exports;
    instances[a][i] = modules[i].names.map((n) => exports[n]);
  };
  const attach = (memory) => {
    memories.push(memory);
    instances.push([]);
    modules.forEach((_, i) => instantiate(memories.length - 1, i));
  };
  const learn = (m) => {
    modules[m.index] = m;
    for (let a = 0; a < memories.length; a++) instantiate(a, m.index);
  };
  for (const m of init.modules) modules[m.index] = m;
  for (const memory of init.memories) attach(memory);
  let seenMail = 0;
  let seen = Atomics.load(ctl, base + ASSIGN);
  Atomics.store(ctl, base + ACK, seenMail);
  Atomics.store(ctl, base + READY, 1);
  Atomics.notify(ctl, base + READY);
  const call = [];
  function loop() {
    for (;;) {
      let spins = 0;
      let until = -1;
      while (Atomics.load(ctl, base + ASSIGN) === seen && Atomics.load(ctl, MAIL) === seenMail) {
        // the clock is read once every 1024 turns (a few microseconds)
        if ((++spins & 1023) !== 0) continue;
        const now = performance.now();
        if (until < 0) until = now + SPIN_MS;
        else if (now >= until) {
          Atomics.store(ctl, base + SLEEPING, 1);
          Atomics.wait(ctl, base + ASSIGN, seen);
          Atomics.store(ctl, base + SLEEPING, 0);
        }
      }
      if (Atomics.load(ctl, QUIT) !== 0) return;
      if (Atomics.load(ctl, MAIL) !== seenMail) return; // back to the event loop: memories or modules are on their way
      seen = Atomics.load(ctl, base + ASSIGN);
      if (Atomics.compareExchange(ctl, base + CLAIM, 0, 1) !== 0) continue; // the caller ran it
      try {
        const fn = instances[ctl[base + ARENA]][ctl[base + MODULE]][ctl[base + FN]];
        const n = ctl[base + ARGC];
        call.length = n;
        for (let i = 0; i < n; i++) call[i] = args[argBase + i];
        fn.apply(null, call);
      } catch (e) {
        Atomics.store(ctl, ERROR, 1);
      }
      if (Atomics.sub(ctl, REMAINING, 1) === 1) Atomics.notify(ctl, REMAINING);
    }
  }
  onMessage((message) => {
    for (const memory of message.memories) attach(memory);
    for (const m of message.modules) learn(m);
    seenMail++;
    Atomics.store(ctl, base + ACK, seenMail);
    Atomics.notify(ctl, base + ACK);
    loop();
  });
  loop();
}
if (typeof process !== "undefined" && process.versions && process.versions.node) {
  const wt = require("node:worker_threads");
  start(wt.workerData, (fn) => wt.parentPort.on("message", fn));
} else {
  self.onmessage = (e) => {
    self.onmessage = null;
    start(e.data, (fn) => { self.onmessage = (event) => fn(event.data); });
  };
}
`;
}
