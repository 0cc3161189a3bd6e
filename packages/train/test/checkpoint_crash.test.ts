import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadModel } from "@llm/models/node";
import { Rng } from "@llm/tensor";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadCheckpoint, resumeFromCheckpoint, saveCheckpoint } from "../src/node.js";
import { setupRun, TOTAL_STEPS } from "./crash/training.js";

// A training run that checkpoints after every step is killed with SIGKILL in the middle of a
// save: at each file-system operation of one save in turn (every mkdir, write, fsync, rename,
// rm), and at random moments. After each kill, loading must find a complete checkpoint (the
// one before the interrupted save, or the one it was writing), resuming from it must give the
// losses of a run that never stopped, and the next save must leave nothing but the checkpoint.

const root = fileURLToPath(new URL("../../../", import.meta.url));
const work = mkdtempSync(join(tmpdir(), "llm-crash-"));
const childScript = join(work, "child.mjs");
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** The child bundled with the packages' sources (as the tests import them). */
beforeAll(async () => {
  const packages = readdirSync(join(root, "packages"));
  await build({
    entryPoints: [fileURLToPath(new URL("./crash/child.ts", import.meta.url))],
    outfile: childScript,
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "error",
    plugins: [
      {
        name: "workspace-sources",
        setup(b) {
          b.onResolve({ filter: /^@llm\// }, (args) => {
            const [, name, sub] = /^@llm\/([^/]+)(\/node)?$/.exec(args.path) ?? [];
            if (!name || !packages.includes(name)) return undefined;
            return { path: join(root, "packages", name, "src", sub ? "node.ts" : "index.ts") };
          });
        },
      },
    ],
  });
});

interface ChildRun {
  /** Steps whose checkpoint the child reported saved before it died. */
  saved: number;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs the child on `dir`; `killAfterMs` kills it that long after it reports it is ready. */
function runChild(dir: string, env: Record<string, string>, killAfterMs?: number): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [childScript, dir], { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      if (killAfterMs !== undefined && stdout.startsWith("ready\n") && !child.killed) {
        setTimeout(() => child.kill("SIGKILL"), killAfterMs);
        killAfterMs = undefined;
      }
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("close", (_code, signal) => {
      const saved = Math.max(0, ...[...stdout.matchAll(/^saved (\d+)$/gm)].map((m) => Number(m[1])));
      resolve({ saved, signal, stdout, stderr });
    });
  });
}

let straight: number[];
let opsPerSave = 0;
let runMs = 0;

beforeAll(async () => {
  straight = (await setupRun().trainer.run()).losses;
  const dir = join(mkdtempSync(join(work, "count-")), "ckpt");
  const started = performance.now();
  const dry = await runChild(dir, { CRASH_SAVE: "2", CRASH_OP: "0" });
  runMs = performance.now() - started;
  expect(dry.stderr).toBe("");
  opsPerSave = Number(/^ops (\d+)/m.exec(dry.stdout)?.[1]);
  expect(dry.saved).toBe(TOTAL_STEPS);
}, 60_000);

/** Loads what a killed child left, resumes, trains to the end and saves; returns the step it resumed at. */
async function resumeAndFinish(dir: string): Promise<number> {
  const fresh = setupRun(99);
  await resumeFromCheckpoint(dir, { model: fresh.model, optimizer: fresh.optimizer, trainer: fresh.trainer });
  const resumedAt = fresh.trainer.step;
  const state = await fresh.trainer.run();
  expect(state.losses).toEqual(straight);
  await saveCheckpoint(dir, { model: fresh.model, optimizer: fresh.optimizer, trainer: fresh.trainer.state() });
  fresh.optimizer.dispose();
  return resumedAt;
}

/** Names in the checkpoint's parent folder: only the checkpoint after a save. */
const siblings = (dir: string) => readdirSync(join(dir, ".."));

describe("saveCheckpoint survives SIGKILL at any moment", () => {
  it("at every file-system operation of a save (each mkdir, write, fsync, rename, rm)", async () => {
    expect(opsPerSave).toBeGreaterThan(10);
    const resumedAt: number[] = [];
    // a few children at once: each is mostly waiting on its own start-up
    const trials = Array.from({ length: opsPerSave }, (_, i) => i + 1);
    for (let i = 0; i < trials.length; i += 3) {
      await Promise.all(
        trials.slice(i, i + 3).map(async (op) => {
          const dir = join(mkdtempSync(join(work, `op${op}-`)), "ckpt");
          const run = await runChild(dir, { CRASH_SAVE: "2", CRASH_OP: String(op) });
          expect(run.signal, `op ${op}: ${run.stderr}`).toBe("SIGKILL");
          expect(run.saved).toBe(1);
          const at = await resumeAndFinish(dir);
          // the checkpoint before the interrupted save, or the one it had committed
          expect([1, 2], `op ${op}`).toContain(at);
          expect(siblings(dir)).toEqual(["ckpt"]);
          resumedAt[op - 1] = at;
        }),
      );
    }
    // both outcomes happen: kills before the commit point keep step 1, after it step 2
    expect(resumedAt).toContain(1);
    expect(resumedAt).toContain(2);
  }, 120_000);

  it("at random moments (seeded)", async () => {
    const rng = new Rng(2024);
    const delays = Array.from({ length: 9 }, () => rng.uniform() * runMs * 0.8);
    let interrupted = 0;
    for (let i = 0; i < delays.length; i += 3) {
      await Promise.all(
        delays.slice(i, i + 3).map(async (delay, j) => {
          const dir = join(mkdtempSync(join(work, `t${i + j}-`)), "ckpt");
          const run = await runChild(dir, {}, delay);
          if (run.saved === TOTAL_STEPS) return; // finished before the kill
          interrupted++;
          // the kill may land after a save committed but before the child said so
          const committed = existsSync(dir) || readdirSync(join(dir, "..")).some((n) => /\.(complete|old)$/.test(n));
          if (!committed) {
            // killed before its first save committed: there is nothing to load, and loading says so
            expect(run.saved).toBe(0);
            await expect(loadCheckpoint(dir)).rejects.toThrow(/expected .*config\.json/);
            return;
          }
          const at = await resumeAndFinish(dir);
          expect(at, `killed ${delay.toFixed(0)} ms in, after save ${run.saved}`).toBeGreaterThanOrEqual(run.saved);
          expect(at).toBeLessThanOrEqual(run.saved + 1);
          expect(siblings(dir)).toEqual(["ckpt"]);
        }),
      );
    }
    expect(interrupted).toBeGreaterThan(0);
  }, 120_000);

  it("loadModel also restores a checkpoint left between the two renames, and cleans up", async () => {
    const parent = mkdtempSync(join(work, "loadmodel-"));
    const dir = join(parent, "ckpt");
    const run = setupRun();
    await run.trainer.run(1);
    await saveCheckpoint(dir, { model: run.model, optimizer: run.optimizer, trainer: run.trainer.state() });
    // what a kill between "old folder aside" and "new folder in" leaves: no folder at the path
    renameSync(dir, join(parent, `.ckpt.${Date.now()}-4194303-0-abcdef.complete`));
    writeFileSync(join(parent, ".ckpt.1-4194303-1-abcdef.partial"), "");
    const loaded = await loadModel(dir);
    expect(Object.keys(loaded.stateDict())).toEqual(Object.keys(run.model.stateDict()));
    expect(siblings(dir)).toEqual(["ckpt"]);
    loaded.dispose();
    run.optimizer.dispose();
  });
});
