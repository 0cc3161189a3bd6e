// ESM consumer of the installed tarballs: load the GPT-2 fixture, generate, train one step.
import { generate, collect } from "@llm/sampling";
import { loadModel } from "@llm/models/node";
import { Tensor, tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { AdamW } from "@llm/train";
import { crossEntropy } from "@llm/layers";
import { fromTokenizerJson } from "@llm/tokenizer";

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
    format: "esm",
    ids,
    expected,
    sameRuntime,
    loss: (await loss.data())[0],
    encoded: Array.from(tokenizer.encode("abab")),
  }),
);
