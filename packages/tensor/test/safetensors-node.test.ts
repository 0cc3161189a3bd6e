import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cpuBackend } from "../src/cpu/backend.js";
import { setBackend } from "../src/engine.js";
import {
  readSafetensorsCheckpoint,
  readSafetensorsFile,
  readSafetensorsFileRaw,
  readShardedSafetensors,
  readShardedSafetensorsRaw,
  writeSafetensorsFile,
  writeSafetensorsFileRaw,
} from "../src/node.js";
import { parseSafetensors, SafetensorsError, serializeSafetensors, type SafetensorsEntry } from "../src/safetensors/index.js";
import { MODELS_DIR, sameBytes } from "./safetensors-helpers.js";

const gpt2 = fileURLToPath(new URL("gpt2/model.safetensors", MODELS_DIR));
let dir: string;

beforeAll(() => {
  setBackend(cpuBackend);
  dir = mkdtempSync(join(tmpdir(), "safetensors-test-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A new empty folder per test, inside the suite's temporary folder. */
const fresh = (name: string) => mkdtempSync(join(dir, `${name}-`));

describe("safetensors files", () => {
  it("reads a checkpoint into tensors and writes it back byte for byte", async () => {
    const out = join(fresh("roundtrip"), "copy.safetensors");
    const raw = await readSafetensorsFileRaw(gpt2);
    const tensors = await readSafetensorsFile(gpt2);
    expect(tensors["transformer.wte.weight"]!.shape).toEqual([512, 64]);
    await writeSafetensorsFile(out, tensors, raw.metadata);
    expect(readFileSync(out).equals(readFileSync(gpt2))).toBe(true);

    const rawOut = join(fresh("raw"), "copy.safetensors");
    await writeSafetensorsFileRaw(rawOut, raw.tensors, raw.metadata);
    expect(readFileSync(rawOut).equals(readFileSync(gpt2))).toBe(true);
  });

  it("replaces an existing file and leaves no temporary files", async () => {
    const folder = fresh("replace");
    const path = join(folder, "w.safetensors");
    writeFileSync(path, "old contents");
    await writeSafetensorsFileRaw(path, { a: { dtype: "U8", shape: [2], data: Uint8Array.of(1, 2) } });
    expect(readdirSync(folder)).toEqual(["w.safetensors"]);
    expect(parseSafetensors(new Uint8Array(readFileSync(path))).tensors.get("a")!.bytes).toEqual(Uint8Array.of(1, 2));
  });

  it("keeps the old file when writing fails, and cleans up", async () => {
    const folder = fresh("fail");
    const path = join(folder, "w.safetensors");
    writeFileSync(path, "old contents");
    const bad = writeSafetensorsFileRaw(path, { a: { dtype: "F32", shape: [2], data: new Float32Array(3) } });
    await expect(bad).rejects.toThrow(SafetensorsError);
    await expect(writeSafetensorsFileRaw(join(folder, "missing-dir", "w.safetensors"), {})).rejects.toThrow(/ENOENT/);
    expect(readdirSync(folder)).toEqual(["w.safetensors"]);
    expect(readFileSync(path, "utf8")).toBe("old contents");
  });

  it("reads tensor by tensor (header first) above maxWholeFileBytes, with the same result", async () => {
    const whole = await readSafetensorsFile(gpt2);
    const parts = await readSafetensorsFile(gpt2, { maxWholeFileBytes: 0 });
    expect(Object.keys(parts)).toEqual(Object.keys(whole));
    for (const [name, t] of Object.entries(whole)) {
      expect(parts[name]!.shape).toEqual(t.shape);
      expect(sameBytes(await parts[name]!.data(), await t.data()), name).toBe(true);
    }
    const path = join(fresh("parts"), "cut.safetensors");
    writeFileSync(path, readFileSync(gpt2).subarray(0, 5000));
    await expect(readSafetensorsFile(path, { maxWholeFileBytes: 0 })).rejects.toThrow(
      new RegExp(`${path}: tensor "transformer.h.0.attn.c_attn.weight": data_offsets \\[768,49920\\] run past the end`),
    );
    writeFileSync(path, readFileSync(gpt2).subarray(0, 100));
    await expect(readSafetensorsFile(path, { maxWholeFileBytes: 0 })).rejects.toThrow(/header length 2624 runs past the end of the file/);
    writeFileSync(path, Uint8Array.of(1));
    await expect(readSafetensorsFile(path, { maxWholeFileBytes: 0 })).rejects.toThrow(/expected at least 8 bytes .*found 1/);
  });

  it("names the file in parse errors", async () => {
    const path = join(fresh("corrupt"), "corrupt.safetensors");
    writeFileSync(path, Uint8Array.of(1, 2, 3));
    await expect(readSafetensorsFileRaw(path)).rejects.toThrow(`safetensors: ${path}: expected at least 8 bytes`);
    await expect(readSafetensorsFile(path)).rejects.toThrow(SafetensorsError);
  });
});

describe("sharded checkpoints", () => {
  /** Splits gpt2's checkpoint into two shards with an index, as `save_pretrained` would. */
  function shard(folder: string, mutate?: (weightMap: Record<string, string>) => void): string {
    const { tensors } = parseSafetensors(new Uint8Array(readFileSync(gpt2)));
    const names = [...tensors.keys()];
    const halves = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    halves.forEach((part, i) => {
      const file = `model-0000${i + 1}-of-00002.safetensors`;
      const entries = new Map(part.map((name): [string, SafetensorsEntry] => [name, tensors.get(name)!]));
      writeFileSync(join(folder, file), serializeSafetensors(entries, { format: "pt" }));
      for (const name of part) weightMap[name] = file;
    });
    mutate?.(weightMap);
    const index = join(folder, "model.safetensors.index.json");
    writeFileSync(index, JSON.stringify({ metadata: { total_size: 548352 }, weight_map: weightMap }));
    return index;
  }

  it("reads every tensor from its shard, equal to the single-file checkpoint", async () => {
    const folder = fresh("sharded");
    const index = shard(folder);
    const single = parseSafetensors(new Uint8Array(readFileSync(gpt2))).tensors;

    const raw = await readShardedSafetensorsRaw(index);
    expect(raw.metadata).toEqual({ total_size: 548352 });
    expect([...raw.tensors.keys()].sort()).toEqual([...single.keys()].sort());
    for (const [name, entry] of single) expect(sameBytes(raw.tensors.get(name)!.bytes, entry.bytes), name).toBe(true);

    const loads = [
      await readShardedSafetensors(index),
      await readShardedSafetensors(index, { maxWholeFileBytes: 0 }),
      await readSafetensorsCheckpoint(folder),
    ];
    for (const tensors of loads) {
      expect(Object.keys(tensors).sort()).toEqual([...single.keys()].sort());
      for (const [name, entry] of single) {
        expect(tensors[name]!.shape).toEqual(entry.shape);
        expect(sameBytes(await tensors[name]!.data(), new Float32Array(entry.bytes.slice().buffer)), name).toBe(true);
      }
    }
  });

  it("reads model.safetensors from a folder without an index", async () => {
    const tensors = await readSafetensorsCheckpoint(new URL("gpt2/", MODELS_DIR));
    expect(tensors["transformer.wte.weight"]!.shape).toEqual([512, 64]);
  });

  it("rejects an index naming a tensor its shard lacks, a shard outside the folder, or no weight_map", async () => {
    const missing = shard(fresh("missing"), (map) => (map["not.there"] = "model-00001-of-00002.safetensors"));
    for (const options of [{}, { maxWholeFileBytes: 0 }]) {
      await expect(readShardedSafetensors(missing, options)).rejects.toThrow(
        /model\.safetensors\.index\.json: tensor "not\.there": expected the tensor in shard .*model-00001-of-00002\.safetensors/,
      );
    }
    await expect(readShardedSafetensorsRaw(missing)).rejects.toThrow(/tensor "not\.there"/);
    const escaping = shard(fresh("escape"), (map) => (map.x = "../elsewhere.safetensors"));
    await expect(readShardedSafetensorsRaw(escaping)).rejects.toThrow(
      /tensor "x": expected a shard file name in the index's folder, found "\.\.\/elsewhere/,
    );
    const noMap = join(fresh("nomap"), "model.safetensors.index.json");
    writeFileSync(noMap, JSON.stringify({ metadata: {} }));
    await expect(readShardedSafetensors(noMap)).rejects.toThrow(/expected an object with a "weight_map"/);
    writeFileSync(noMap, "{not json");
    await expect(readShardedSafetensors(noMap)).rejects.toThrow(/expected a JSON index, found invalid JSON/);
  });
});
