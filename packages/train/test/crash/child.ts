// A training run that checkpoints after every step, for the crash-safety test: bundled by the
// test and run as its own process, then killed (SIGKILL) by the test at a random moment, or by
// itself at the K-th file-system operation of one save (CRASH_SAVE, CRASH_OP). With CRASH_OP=0
// it kills nothing and prints how many operations that save made.
import fsp from "node:fs/promises";
import { syncBuiltinESMExports } from "node:module";
import { saveCheckpoint } from "../../src/node.js";
import { setupRun, TOTAL_STEPS } from "./training.js";

const dir = process.argv[2]!;
const crashSave = Number(process.env.CRASH_SAVE ?? 0);
const crashOp = Number(process.env.CRASH_OP ?? -1);
let save = 0;
let ops = 0;
const opNames: string[] = [];

/** Counts an operation of the watched save, and dies at the chosen one (before it runs). */
function step(name: string): void {
  if (save !== crashSave) return;
  ops++;
  opNames.push(name);
  if (ops === crashOp) process.kill(process.pid, "SIGKILL");
}

// Every step that changes what is on disk: creating, writing, renaming and removing files and
// folders, and flushing them (opening one changes nothing a kill could expose). The patched
// functions are what `import { rename } from "node:fs/promises"` sees.
for (const name of ["rename", "rm", "mkdir", "unlink", "open"] as const) {
  const original = fsp[name] as (...args: unknown[]) => Promise<unknown>;
  (fsp as unknown as Record<string, unknown>)[name] = async (...args: unknown[]) => {
    if (name !== "open") step(name);
    const result = await original(...args);
    if (name === "open") patchHandle(result as import("node:fs/promises").FileHandle);
    return result;
  };
}
syncBuiltinESMExports();

let handlePatched = false;
function patchHandle(handle: import("node:fs/promises").FileHandle): void {
  if (handlePatched) return;
  handlePatched = true;
  const proto = Object.getPrototypeOf(handle) as Record<string, (...args: unknown[]) => Promise<unknown>>;
  for (const name of ["sync", "writeFile", "write"]) {
    const original = proto[name]!;
    proto[name] = function (this: unknown, ...args: unknown[]) {
      step(name);
      return original.apply(this, args);
    };
  }
}

const { model, optimizer, trainer } = setupRun();
process.stdout.write("ready\n");
for (let s = 1; s <= TOTAL_STEPS; s++) {
  await trainer.run(s);
  save = s;
  await saveCheckpoint(dir, { model, optimizer, trainer: trainer.state() });
  process.stdout.write(`saved ${s}\n`);
}
if (crashOp === 0) process.stdout.write(`ops ${ops} ${opNames.join(",")}\n`);
