// Shared by the examples: read a fixture folder and print how close a model comes to its reference.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { noGrad, tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { crossEntropy } from "@llm/layers";

export async function readFixture(name) {
  const dir = fileURLToPath(new URL(`../../fixtures/models/${name}/`, import.meta.url));
  return {
    config: JSON.parse(readFileSync(`${dir}config.json`, "utf8")),
    weights: await readSafetensorsFile(`${dir}model.safetensors`, { dtype: "float32" }),
    reference: await readSafetensorsFile(`${dir}reference.safetensors`),
  };
}

function maxAbsDiff(a, b) {
  const x = a.dataSync();
  const y = b.dataSync();
  let max = 0;
  for (let i = 0; i < x.length; i++) max = Math.max(max, Math.abs(x[i] - y[i]));
  return max;
}

/** Logits and loss of the reference batch, then greedy decoding with the KV cache. */
export function compareWithReference(model, reference) {
  noGrad(() => {
    const ids = reference.input_ids;
    const logits = model.forward(ids);
    const seq = ids.shape[1];
    const loss = crossEntropy(logits.slice(1, 0, seq - 1), ids.slice(1, 1).contiguous());
    console.log(`logits  max |error| ${maxAbsDiff(logits, reference.logits).toExponential(2)}  (fixture tolerance 1e-4)`);
    console.log(`loss    ${loss.dataSync()[0].toFixed(6)} vs ${reference.loss.dataSync()[0].toFixed(6)}`);

    const cache = model.createCache();
    let next = reference.gen_prompt;
    const generated = [];
    let worst = 0;
    for (let step = 0; step < reference.gen_ids.shape[1]; step++) {
      const out = model.forward(next, { cache });
      const last = out.slice(1, out.shape[1] - 1).reshape(-1);
      worst = Math.max(worst, maxAbsDiff(last, reference.gen_logits.slice(0, step, step + 1).reshape(-1)));
      const id = last.argmax(0).dataSync()[0];
      generated.push(id);
      next = tensor([[id]], { dtype: "int32" });
    }
    cache.dispose();
    const expected = Array.from(reference.gen_ids.dataSync());
    console.log(
      `greedy  [${generated.join(" ")}] with the KV cache; reference [${expected.join(" ")}]: ${generated.join() === expected.join() ? "identical" : "DIFFERENT"}`,
    );
    console.log(`        step logits max |error| ${worst.toExponential(2)}`);
  });
}
