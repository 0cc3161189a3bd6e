import { describe, expect, it } from "vitest";
import { noGrad } from "@llm/tensor";
import { modelFromCheckpoint } from "@llm/models";
import { fixtureNames, maxAbsDiff, readFixture } from "./fixture_files.js";

describe("logitsToKeep computes the head for the last positions only", () => {
  for (const name of fixtureNames().filter((n) => n !== "glm")) {
    it(name, async () => {
      const f = await readFixture(name);
      const model = modelFromCheckpoint(f.config, f.weights);
      const ids = f.reference.input_ids!;
      const seq = ids.shape[1]!;
      noGrad(() => {
        const full = model.forward(ids);
        const last3 = model.forward(ids, { logitsToKeep: 3 });
        expect(last3.shape).toEqual([ids.shape[0], 3, full.shape[2]]);
        expect(maxAbsDiff(last3, full.slice(1, seq - 3))).toBeLessThan(1e-6);
        expect(model.forward(ids, { logitsToKeep: seq + 5 }).shape).toEqual(full.shape);
        expect(() => model.forward(ids, { logitsToKeep: -1 })).toThrow(/logitsToKeep must be a non-negative integer, found -1/);
      });
    });
  }
});
