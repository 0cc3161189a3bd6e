import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import {
  CheckpointFileError,
  checkpointFilesFromBytes,
  configJson,
  openCheckpoint,
  parseShardIndex,
  planShards,
  saveSafetensors,
  SafetensorsError,
  shardFileName,
  tensor,
} from "../src/index.js";
import { checkpointFolder, writeCheckpointFolder } from "../src/node.js";
import { bfloat16BitsToFloat32, float16BitsToFloat32, widenHalvesInPlace } from "../src/safetensors/halves.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
const tempDir = () => {
  const d = mkdtempSync(join(tmpdir(), "llm-checkpoint-"));
  dirs.push(d);
  return d;
};

const weights = () => ({
  "a.weight": tensor([
    [1, 2],
    [3, 4],
  ]),
  "b.bias": tensor([5, 6, 7]),
  "c.weight": tensor([8]).cast("float16"),
});

describe("openCheckpoint", () => {
  test("reads config.json and headers first, then each tensor on request", async () => {
    const files = checkpointFilesFromBytes(
      { "config.json": '{"model_type":"x"}', "model.safetensors": await saveSafetensors(weights()) },
      "mem",
    );
    const checkpoint = await openCheckpoint(files);
    expect(checkpoint.config).toEqual({ model_type: "x" });
    expect([...checkpoint.tensors.keys()]).toEqual(["a.weight", "b.bias", "c.weight"]);
    expect(checkpoint.tensors.get("b.bias")).toMatchObject({ dtype: "F32", shape: [3], file: "model.safetensors" });
    expect(Array.from((await checkpoint.readTensor("b.bias")).dataSync())).toEqual([5, 6, 7]);
    const half = await checkpoint.readTensor("c.weight");
    expect(half.dtype).toBe("float16");
    const widened = await checkpoint.readTensor("c.weight", { dtype: "float32" });
    expect([widened.dtype, widened.dataSync()[0]]).toEqual(["float32", 8]);
    await expect(checkpoint.readTensor("nope")).rejects.toThrow(/tensor "nope": expected a tensor of this checkpoint/);
  });

  test("names what is missing or malformed", async () => {
    await expect(openCheckpoint(checkpointFilesFromBytes({}, "empty"))).rejects.toThrow("empty: expected a config.json, found none");
    const bad = openCheckpoint(checkpointFilesFromBytes({ "config.json": "{nope" }, "bad"));
    await expect(bad).rejects.toThrow(CheckpointFileError);
    await expect(openCheckpoint(checkpointFilesFromBytes({ "config.json": "[1]" }, "arr"))).rejects.toThrow(
      "arr/config.json: expected a JSON object, found [1]",
    );
    await expect(openCheckpoint(checkpointFilesFromBytes({ "config.json": "{}" }, "noweights"))).rejects.toThrow(
      "noweights: expected model.safetensors or model.safetensors.index.json, found neither",
    );
  });

  test("follows a sharded index and checks that each shard holds what it says", async () => {
    const shard1 = await saveSafetensors({ "a.weight": weights()["a.weight"] });
    const shard2 = await saveSafetensors({ "b.bias": weights()["b.bias"] });
    const index = { metadata: { total_size: 28 }, weight_map: { "a.weight": "s1.safetensors", "b.bias": "s2.safetensors" } };
    const files = {
      "config.json": "{}",
      "model.safetensors.index.json": JSON.stringify(index),
      "s1.safetensors": shard1,
      "s2.safetensors": shard2,
    };
    const checkpoint = await openCheckpoint(checkpointFilesFromBytes(files, "sharded"));
    expect(checkpoint.metadata).toEqual({ total_size: 28 });
    expect(Object.keys(await checkpoint.readAll())).toEqual(["a.weight", "b.bias"]);
    const lying = {
      ...files,
      "model.safetensors.index.json": JSON.stringify({ weight_map: { ...index.weight_map, "c.weight": "s2.safetensors" } }),
    };
    await expect(openCheckpoint(checkpointFilesFromBytes(lying, "lying"))).rejects.toThrow(
      /tensor "c.weight": expected the tensor in shard s2.safetensors \(as weight_map says\), found no such tensor there/,
    );
  });
});

describe("halves widened as they are read", () => {
  test("every float16 and bfloat16 pattern, in place, equals the two-array conversion", () => {
    const bits = new Uint16Array(65536).map((_, i) => i);
    for (const kind of ["F16", "BF16"] as const) {
      const out = new Float32Array(bits.length);
      new Uint16Array(out.buffer, 2 * bits.length).set(bits);
      widenHalvesInPlace(out, kind);
      const expected = kind === "F16" ? float16BitsToFloat32(bits) : bfloat16BitsToFloat32(bits);
      expect(Buffer.from(out.buffer).equals(Buffer.from(expected.buffer)), kind).toBe(true);
    }
  });

  test("readTensor with dtype float32 gives the values of cast()", async () => {
    const values = tensor(Array.from({ length: 1001 }, (_, i) => (i - 500) * 0.37));
    const halves = { h: values.cast("float16"), b: values.cast("bfloat16") };
    const checkpoint = await openCheckpoint(
      checkpointFilesFromBytes({ "config.json": "{}", "model.safetensors": await saveSafetensors(halves) }),
    );
    for (const name of ["h", "b"] as const) {
      const read = await checkpoint.readTensor(name, { dtype: "float32" });
      expect(Array.from(read.dataSync()), name).toEqual(Array.from(halves[name].float().dataSync()));
    }
  });
});

describe("shard indexes", () => {
  test("refuse shard names outside the folder", () => {
    for (const name of ["../x.safetensors", "/etc/x", "a/../../x", "C:\\x", ""]) {
      const bytes = new TextEncoder().encode(JSON.stringify({ weight_map: { w: name } }));
      expect(() => parseShardIndex(bytes, "index.json"), name).toThrow(SafetensorsError);
    }
    const ok = parseShardIndex(new TextEncoder().encode(JSON.stringify({ weight_map: { w: "sub/x.safetensors" } })), "i");
    expect([...ok.shards.keys()]).toEqual(["sub/x.safetensors"]);
  });

  test("plan shards in order, a tensor larger than the limit alone", () => {
    const sizes = [
      ["a", 4],
      ["b", 4],
      ["c", 10],
      ["d", 1],
      ["e", 1],
    ] as const;
    expect(planShards(sizes, 8)).toEqual([["a", "b"], ["c"], ["d", "e"]]);
    expect(planShards(sizes, 100)).toEqual([["a", "b", "c", "d", "e"]]);
    expect(planShards([], 8)).toEqual([[]]);
    expect(shardFileName(0, 3)).toBe("model-00001-of-00003.safetensors");
  });
});

describe("writeCheckpointFolder", () => {
  test("writes one file or shards with their index, and replaces one layout by the other", async () => {
    const dir = tempDir();
    writeFileSync(join(dir, "notes.txt"), "kept");
    await writeCheckpointFolder(dir, { config: { model_type: "x" }, tensors: weights() });
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors", "notes.txt"]);
    await writeCheckpointFolder(dir, { config: { model_type: "x" }, tensors: weights() }, { maxShardBytes: 16 });
    expect(readdirSync(dir).sort()).toEqual([
      "config.json",
      "model-00001-of-00002.safetensors",
      "model-00002-of-00002.safetensors",
      "model.safetensors.index.json",
      "notes.txt",
    ]);
    const checkpoint = await openCheckpoint(checkpointFolder(dir));
    expect(checkpoint.metadata).toEqual({ total_size: 30 });
    const read = await checkpoint.readAll();
    expect(Array.from(read["a.weight"]!.dataSync())).toEqual([1, 2, 3, 4]);
    expect(read["c.weight"]!.dtype).toBe("float16");
    await writeCheckpointFolder(dir, { config: { model_type: "x" }, tensors: weights() });
    expect(readdirSync(dir).sort()).toEqual(["config.json", "model.safetensors", "notes.txt"]);
  });
});

describe("configJson", () => {
  const config = {
    model_type: "gemma2",
    final_logit_softcapping: 30,
    rms_norm_eps: 1e-6,
    vocab_size: 512,
    rope_parameters: { rope_type: "yarn", factor: 4, original_max_position_embeddings: 64 },
    long_factor: [1, 2.5, 3],
    big: 1e21,
    layer_types: ["sliding_attention", "full_attention"],
    empty: {},
    none: null,
    skipped: undefined,
  };
  const floats = ["final_logit_softcapping", "rms_norm_eps", "rope_parameters.factor", "long_factor", "big"];

  test("is JSON.stringify's two-space text, with the float keys whole numbers spelled as floats", () => {
    const text = configJson(config, floats);
    expect(JSON.parse(text)).toEqual(JSON.parse(JSON.stringify(config)));
    expect(configJson(config)).toBe(`${JSON.stringify(config, null, 2)}\n`);
    expect(text).toContain('"final_logit_softcapping": 30.0,');
    expect(text).toContain('"factor": 4.0,');
    expect(text).toContain('"original_max_position_embeddings": 64\n');
    expect(text).toContain('"vocab_size": 512,');
    expect(text).toContain('"rms_norm_eps": 0.000001,');
    expect(text).toContain("1.0,\n    2.5,\n    3.0\n");
    expect(text).toContain('"big": 1e+21,');
  });

  test("writeCheckpointFolder writes config.json through it", async () => {
    const dir = tempDir();
    await writeCheckpointFolder(dir, { config, tensors: weights(), floatKeys: floats });
    expect(readFileSync(join(dir, "config.json"), "utf8")).toBe(configJson(config, floats));
  });
});
