import { randomBytes } from "node:crypto";
import { mkdir, open, readdir, rename, rm, stat } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Folders replaced as a whole, so that a crash at any instant leaves the path holding a complete
 * folder (the old one or the new one) or leaves siblings from which `recoverFolder` restores the
 * newest complete one.
 *
 * A save of `dir` goes through sibling folders named `.<name>.<tag>.<state>`:
 *  1. `.partial`: the new folder is written here, every file fsynced, then the folder itself;
 *  2. renamed to `.complete` (the commit point: from here on the save is done, a crash rolls forward);
 *  3. the current `dir`, if any, renamed to `.old`;
 *  4. `.complete` renamed to `dir`; the parent fsynced;
 *  5. `.old` removed.
 * A crash before 2 leaves the old `dir` untouched (and a `.partial` to clean); after 2, recovery
 * moves the `.complete` folder into place.
 */

/** The states of a sibling folder a save goes through. */
type LeftoverState = "partial" | "complete" | "old";

interface Leftover {
  readonly path: string;
  readonly state: LeftoverState;
  /** When its save began (ms since the epoch), to order two of the same state; 0 when unknown. */
  readonly time: number;
  /** The process that wrote it, when the name says. */
  readonly pid: number | null;
}

/** What recoverFolder found and did. */
export interface FolderRecovery {
  /** "new": a committed save was moved into place; "old": the previous folder was put back; "none": nothing to restore. */
  readonly restored: "new" | "old" | "none";
  /** Leftover folders removed (staging folders of crashed saves, old copies). */
  readonly removed: readonly string[];
}

let sequence = 0;

/**
 * Writes a folder through `fill` (which writes the files into the folder it is given) and puts it
 * at `dir` in place of what was there, so that no instant leaves `dir` half-written: a crash leaves
 * the previous folder, or the new one, or siblings from which recoverFolder restores the newest
 * complete one. Leftovers of earlier crashed saves are recovered and removed first.
 */
export async function writeFolderAtomically(directory: string, fill: (staging: string) => Promise<void>): Promise<void> {
  const dir = directory.replace(/[\\/]+$/, "") || directory;
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  await recoverFolder(dir);
  const tag = `${Date.now()}-${process.pid}-${sequence++}-${randomBytes(3).toString("hex")}`;
  const sibling = (state: LeftoverState) => join(parent, `.${basename(dir)}.${tag}.${state}`);
  const partial = sibling("partial");
  await mkdir(partial);
  try {
    await fill(partial);
    await fsyncFolder(partial);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  const complete = sibling("complete");
  await rename(partial, complete);
  await fsyncFolder(parent);
  await publish(dir, complete, sibling("old"));
}

/**
 * Finishes or undoes what a crashed writeFolderAtomically left beside `dir`: a committed save
 * (`.complete`) is moved into place, or, when `dir` is missing and nothing was committed, the
 * previous folder (`.old`) is put back; then every leftover is removed. Leftovers of a process that
 * is still running are left alone. Safe to call at any time; cheap when there is nothing to do.
 */
export async function recoverFolder(directory: string): Promise<FolderRecovery> {
  const dir = directory.replace(/[\\/]+$/, "") || directory;
  let leftovers = await findLeftovers(dir);
  if (leftovers.length === 0) return { restored: "none", removed: [] };
  // a save in progress in another process: wait for it to publish rather than race it
  for (let tries = 0; tries < 40 && leftovers.some((l) => isAlive(l.pid)) && !(await exists(dir)); tries++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    leftovers = await findLeftovers(dir);
  }
  const ours = leftovers.filter((l) => !isAlive(l.pid));
  const newest = (state: LeftoverState) =>
    ours.filter((l) => l.state === state).sort((a, b) => b.time - a.time || (a.path < b.path ? 1 : -1))[0];
  let restored: FolderRecovery["restored"] = "none";
  const complete = newest("complete");
  const old = newest("old");
  if (complete) {
    await publish(dir, complete.path, join(dirname(dir), `${basename(complete.path).replace(/\.complete$/, "")}.old`));
    restored = "new";
  } else if (old && !(await exists(dir))) {
    await rename(old.path, dir);
    await fsyncFolder(dirname(dir));
    restored = "old";
  }
  const removed: string[] = [];
  for (const l of ours) {
    if ((l === complete && restored === "new") || (l === old && restored === "old")) continue;
    if (!(await exists(l.path))) continue;
    await rm(l.path, { recursive: true, force: true });
    removed.push(l.path);
  }
  return { restored, removed };
}

/** Moves a complete folder to `dir`, the current one aside to `old` first, then removes `old`. */
async function publish(dir: string, complete: string, old: string): Promise<void> {
  const hadOld = await exists(dir);
  if (hadOld) await rename(dir, old);
  await rename(complete, dir);
  await fsyncFolder(dirname(dir));
  if (hadOld) await rm(old, { recursive: true, force: true });
}

/** Sibling folders of `dir` left by saves: `.<name>.<tag>.partial|complete|old` (and the pre-1.0 `.partial.old`). */
async function findLeftovers(dir: string): Promise<Leftover[]> {
  const name = basename(dir);
  const prefix = `.${name}.`;
  let entries: string[];
  try {
    entries = await readdir(dirname(dir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw error;
  }
  const out: Leftover[] = [];
  for (const entry of entries) {
    if (!entry.startsWith(prefix)) continue;
    const match = /^(.+)\.(partial|complete|old)$/.exec(entry.slice(prefix.length));
    if (!match) continue;
    const tag = match[1]!;
    const state = match[2] as LeftoverState;
    // ours: <time>-<pid>-<n>-<hex>; earlier versions wrote <pid>.<hex>(.partial) with no time
    const current = /^(\d+)-(\d+)-\d+-[0-9a-f]+$/.exec(tag);
    const earlier = /^(\d+)\.[0-9a-f]+(\.partial)?$/.exec(tag);
    if (!current && !earlier) continue;
    const time = current ? Number(current[1]) : 0;
    const pid = Number(current ? current[2] : earlier![1]);
    out.push({ path: join(dirname(dir), entry), state, time, pid });
  }
  return out;
}

/** Whether another process with this id is running (ours counts as not: our own saves are sequential). */
function isAlive(pid: number | null): boolean {
  if (pid === null || pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Flushes a folder's entries (the names of files created or renamed in it) to disk. Systems that
 * cannot open a folder for this (Windows) make it a no-op, as they order such writes themselves.
 */
export async function fsyncFolder(path: string): Promise<void> {
  let handle: Awaited<ReturnType<typeof open>>;
  try {
    handle = await open(path, "r");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === "EISDIR" || code === "EPERM" || code === "EACCES") return;
    throw error;
  }
  try {
    await handle.sync();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code !== "EINVAL" && code !== "EPERM" && code !== "EBADF") throw error;
  } finally {
    await handle.close();
  }
}
