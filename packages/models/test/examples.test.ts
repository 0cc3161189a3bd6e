import { describe, expect, it } from "vitest";
import { noGrad } from "@llm/tensor";
import { loadModel } from "@llm/models/node";
import type { TransformerLanguageModel } from "@llm/layers";
// The examples assemble these models by hand from @llm/layers; they must stay exact too.
// @ts-expect-error plain JavaScript example without declarations
import { gptj } from "../../../examples/gpt-j/gptj.mjs";
// @ts-expect-error plain JavaScript example without declarations
import { bloom } from "../../../examples/bloom/bloom.mjs";
import { maxAbsDiff, readFixture } from "./fixture_files.js";

const handAssembled: [string, (config: Record<string, unknown>) => TransformerLanguageModel][] = [
  ["gptj", gptj],
  ["bloom", bloom],
];

describe.each(handAssembled)("examples: %s assembled from @llm/layers", (name, build) => {
  it("loads the fixture's weights by the checkpoint's own names and matches the reference logits", async () => {
    const f = await readFixture(name);
    const model = build(f.config);
    model.loadStateDict(f.weights, { source: name, take: true });
    noGrad(() => expect(maxAbsDiff(model.eval().forward(f.reference.input_ids!), f.reference.logits!)).toBeLessThanOrEqual(1e-4));
    // and it is the same model @llm/models builds from the config
    const reference = await loadModel(f.dir);
    expect(Object.keys(model.stateDict())).toEqual(Object.keys(reference.stateDict()));
  });
});
