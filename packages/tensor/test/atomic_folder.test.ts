import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointFileError } from "../src/index.js";
import { readSafetensorsCheckpoint, recoverFolder, writeFolderAtomically } from "../src/node.js";

const root = mkdtempSync(join(tmpdir(), "llm-atomic-folder-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const parent = join(root, `case${n++}`);
  mkdirSync(parent);
  return { parent, dir: join(parent, "ckpt") };
};
const write = (dir: string, text: string) => {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "config.json"), text);
};
const read = (dir: string) => readFileSync(join(dir, "config.json"), "utf8");
/** A process id that is not running: the largest pid Linux hands out is 4194304. */
const DEAD = 4194303;

describe("writeFolderAtomically / recoverFolder", () => {
  it("replaces the folder and leaves nothing beside it", async () => {
    const { parent, dir } = fresh();
    await writeFolderAtomically(dir, async (staging) => write(staging, "1"));
    await writeFolderAtomically(dir, async (staging) => write(staging, "2"));
    expect(read(dir)).toBe("2");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("a failed fill leaves the previous folder and no staging folder", async () => {
    const { parent, dir } = fresh();
    await writeFolderAtomically(dir, async (staging) => write(staging, "1"));
    await expect(
      writeFolderAtomically(dir, async (staging) => {
        write(staging, "2");
        throw new Error("disk full");
      }),
    ).rejects.toThrow("disk full");
    expect(read(dir)).toBe("1");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("rolls a committed save forward: the .complete folder replaces the path", async () => {
    const { parent, dir } = fresh();
    write(dir, "old");
    write(join(parent, `.ckpt.1000-${DEAD}-0-abcdef.complete`), "new");
    write(join(parent, `.ckpt.1000-${DEAD}-1-abcdef.partial`), "half");
    expect(await recoverFolder(dir)).toMatchObject({ restored: "new" });
    expect(read(dir)).toBe("new");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("a path left empty between the two renames gets the committed folder back", async () => {
    const { parent, dir } = fresh();
    write(join(parent, `.ckpt.1000-${DEAD}-0-abcdef.old`), "old");
    write(join(parent, `.ckpt.1000-${DEAD}-0-abcdef.complete`), "new");
    expect(await recoverFolder(dir)).toMatchObject({ restored: "new" });
    expect(read(dir)).toBe("new");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("leftovers of the earlier scheme (.partial and .partial.old, no commit mark): the old folder comes back", async () => {
    const { parent, dir } = fresh();
    write(join(parent, `.ckpt.${DEAD}.a1b2c3d4.partial.old`), "old");
    write(join(parent, `.ckpt.${DEAD}.a1b2c3d4.partial`), "maybe half");
    write(join(parent, `.ckpt.${DEAD}.99887766.partial`), "half");
    expect(await recoverFolder(dir)).toMatchObject({ restored: "old" });
    expect(read(dir)).toBe("old");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("the next save removes staging leftovers", async () => {
    const { parent, dir } = fresh();
    write(dir, "1");
    write(join(parent, `.ckpt.${DEAD}.a1b2c3d4.partial`), "half");
    await writeFolderAtomically(dir, async (staging) => write(staging, "2"));
    expect(read(dir)).toBe("2");
    expect(readdirSync(parent)).toEqual(["ckpt"]);
  });

  it("leaves alone the staging folder of a process that is still running, and unrelated names", async () => {
    const { parent, dir } = fresh();
    write(dir, "1");
    const live = join(parent, `.ckpt.1000-${process.ppid}-0-abcdef.partial`);
    write(live, "being written");
    write(join(parent, ".ckpt.notes.partial"), "not ours");
    write(join(parent, ".other.1000-1-0-abcdef.partial"), "another folder's");
    expect(await recoverFolder(dir)).toEqual({ restored: "none", removed: [] });
    expect(existsSync(live)).toBe(true);
    expect(readdirSync(parent).sort()).toEqual(
      [`.ckpt.1000-${process.ppid}-0-abcdef.partial`, ".ckpt.notes.partial", ".other.1000-1-0-abcdef.partial", "ckpt"].sort(),
    );
  });

  it("nothing to recover: a no-op", async () => {
    const { dir } = fresh();
    expect(await recoverFolder(dir)).toEqual({ restored: "none", removed: [] });
    expect(existsSync(dir)).toBe(false);
  });

  it("a folder without weights is a CheckpointFileError naming both files, not a raw ENOENT", async () => {
    const { dir } = fresh();
    write(dir, "{}");
    await expect(readSafetensorsCheckpoint(dir)).rejects.toThrow(CheckpointFileError);
    await expect(readSafetensorsCheckpoint(dir)).rejects.toThrow(
      /expected model\.safetensors or model\.safetensors\.index\.json, found neither/,
    );
  });
});
