import { describe, expect, it } from "vitest";
import {
  checkpointFilesFromBytes,
  jsonDepth,
  openCheckpoint,
  parseSafetensors,
  previewJson,
  readCheckpointConfig,
  SafetensorsError,
} from "../src/index.js";

/** A safetensors file whose header is `header` (text), with no data. */
function fileWithHeader(header: string): Uint8Array {
  const text = new TextEncoder().encode(header);
  const out = new Uint8Array(8 + text.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  return out;
}

const deep = (n: number, leaf = "1") => `${"[".repeat(n)}${leaf}${"]".repeat(n)}`;

describe("values nested thousands deep (JSON.parse reads them, JSON.stringify overflowed)", () => {
  it("a safetensors header entry nested 5000 deep is a SafetensorsError (a raw RangeError in the message helper)", () => {
    const file = fileWithHeader(`{"w":${deep(5000)}}`);
    expect(() => parseSafetensors(file)).toThrow(SafetensorsError);
    expect(() => parseSafetensors(file)).toThrow(/tensor "w": expected \{dtype, shape, data_offsets\}, found \[\[\[\[\.\.\.\]\]\]\]/);
    const shape = fileWithHeader(`{"w":{"dtype":"F32","shape":${deep(5000)},"data_offsets":[0,0]}}`);
    expect(() => parseSafetensors(shape)).toThrow(/expected shape to be an array of non-negative integers, found \[\[\[\[\.\.\.\]\]\]\]/);
    const metadata = fileWithHeader(`{"__metadata__":{"a":${deep(5000)}}}`);
    expect(() => parseSafetensors(metadata)).toThrow(/expected string values, found \[\[\[\[\.\.\.\]\]\]\] at "a"/);
  });

  it("config.json nested deeper than 32 levels is refused when read", async () => {
    const files = checkpointFilesFromBytes({ "config.json": `{"model_type":"gpt2","x":${deep(5000)}}` });
    await expect(readCheckpointConfig(files)).rejects.toThrow(
      /config\.json: expected JSON nested at most 32 levels deep, found deeper nesting/,
    );
    const array = checkpointFilesFromBytes({ "config.json": deep(5000) });
    await expect(readCheckpointConfig(array)).rejects.toThrow(/config\.json: expected a JSON object, found \[\[\[\[\.\.\.\]\]\]\]/);
  });

  it("an index whose weight_map is nested 5000 deep", async () => {
    const files = checkpointFilesFromBytes({ "config.json": "{}", "model.safetensors.index.json": `{"weight_map":{"w":${deep(5000)}}}` });
    await expect(openCheckpoint(files)).rejects.toThrow(
      /tensor "w": expected a shard file name in the index's folder, found \[\[\[\[\.\.\.\]\]\]\]/,
    );
  });

  it("previewJson and jsonDepth never recurse past a few levels", () => {
    const value = JSON.parse(deep(100_000));
    expect(previewJson(value)).toBe("[[[[...]]]]");
    expect(jsonDepth(value)).toBe(100_000);
    expect(jsonDepth(value, 10)).toBe(11);
    expect(previewJson({ a: "x".repeat(1000), b: [1, 2] })).toMatch(/^\{"a":"x+\.\.\.$/);
    expect(previewJson(Array.from({ length: 20 }, (_, i) => i))).toBe("[0,1,2,3,4,5,6,7,...]");
    expect(previewJson(undefined)).toBe("nothing");
  });
});
