import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CheckpointError } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { FIXTURES } from "./fixture_files.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The gpt2 fixture with one float32 value of one tensor overwritten. */
function withValue(tensor: string, element: number, value: number): string {
  const dir = join(mkdtempSync(join(tmpdir(), "llm-finite-")), "gpt2");
  dirs.push(join(dir, ".."));
  mkdirSync(dir);
  copyFileSync(join(FIXTURES, "gpt2", "config.json"), join(dir, "config.json"));
  const bytes = readFileSync(join(FIXTURES, "gpt2", "model.safetensors"));
  const headerLength = Number(bytes.readBigUInt64LE(0));
  const header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString("utf8"));
  const begin = 8 + headerLength + header[tensor].data_offsets[0] + 4 * element;
  bytes.writeFloatLE(value, begin);
  writeFileSync(join(dir, "model.safetensors"), bytes);
  return dir;
}

describe("weights holding NaN or an infinity", () => {
  it("are refused on load, naming the tensor and the element (they used to load silently)", async () => {
    const dir = withValue("transformer.h.1.mlp.c_fc.weight", 70, Number.NaN);
    await expect(loadModel(dir)).rejects.toThrow(CheckpointError);
    await expect(loadModel(dir)).rejects.toThrow(
      /model\.safetensors: tensor "transformer\.h\.1\.mlp\.c_fc\.weight": expected finite values, found NaN at element 70 \(index \[0,70\] of shape \[64,256\]\)/,
    );
    const inf = withValue("transformer.wte.weight", 3, -Infinity);
    await expect(loadModel(inf)).rejects.toThrow(/tensor "transformer\.wte\.weight": expected finite values, found -Infinity at element 3/);
  });

  it("load when the check is turned off (checkFinite: false)", async () => {
    const model = await loadModel(withValue("transformer.h.1.mlp.c_fc.weight", 70, Number.NaN), { checkFinite: false });
    expect(Number.isNaN((await model.stateDict()["transformer.h.1.mlp.c_fc.weight"]!.data())[70])).toBe(true);
    model.dispose();
  });
});
