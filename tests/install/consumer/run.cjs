"use strict";
// CommonJS consumer of the installed tarballs: load the GPT-2 fixture, generate, train one step.
const { generate, collect } = require("@llm/sampling");
const { loadModel } = require("@llm/models/node");
const { Tensor, tensor } = require("@llm/tensor");
const { readSafetensorsFile } = require("@llm/tensor/node");
const { AdamW } = require("@llm/train");
const { crossEntropy } = require("@llm/layers");
const { fromTokenizerJson } = require("@llm/tokenizer");
async function main() {
  const [dir] = process.argv.slice(2);
  const model = await loadModel(dir);
  const reference = await readSafetensorsFile(`${dir}/reference.safetensors`);
  const prompt = Array.from(await reference.gen_prompt.data());
  const ids = await collect(generate(model, prompt, { maxNewTokens: 8 }));
  const expected = Array.from(await reference.gen_ids.data());
  // tensors read by the ./node entry are the main entry's Tensor: one copy of the runtime per format
  const sameRuntime = model.parameters().every((p) => p instanceof Tensor) && reference.gen_ids instanceof Tensor;
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3 });
  const input = tensor([prompt], { dtype: "int32" });
  const loss = crossEntropy(
    model
      .train()
      .forward(input)
      .slice(1, 0, prompt.length - 1),
    input.slice(1, 1).contiguous(),
  );
  loss.backward();
  optimizer.step();
  const tokenizer = fromTokenizerJson(JSON.stringify({ model: { type: "BPE", vocab: { a: 0, b: 1, ab: 2 }, merges: ["a b"] } }));
  console.log(
    JSON.stringify({
      format: "cjs",
      ids,
      expected,
      sameRuntime,
      loss: (await loss.data())[0],
      encoded: Array.from(tokenizer.encode("abab")),
    }),
  );
}
main().catch((e) => {
  console.error(e);
  process.exit(1);
});
