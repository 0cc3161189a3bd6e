// The README's first code block, runnable: `node examples/quickstart/quickstart.mjs out/demo/checkpoint`
// after `pnpm demo` (any folder with config.json, model.safetensors and tokenizer.json will do).
import { crossEntropy } from "@llm/layers";
import { loadModel } from "@llm/models/node";
import { generateText } from "@llm/sampling";
import { tensor } from "@llm/tensor";
import { loadTokenizerJson } from "@llm/tokenizer/node";
import { AdamW } from "@llm/train";

export async function quickstart(dir, say = console.log) {
  // load a folder: config.json + model.safetensors (or shards), read straight into the model
  const model = await loadModel(dir);
  const tokenizer = loadTokenizerJson(`${dir}/tokenizer.json`);

  // tokenize
  const ids = tokenizer.encode("The jury said it did find that the city");
  say(`${ids.length} tokens: ${ids.join(" ")}`);

  // generate (streams text; the KV cache is used throughout)
  let text = "";
  for await (const piece of generateText(model, tokenizer, "The jury said", { maxNewTokens: 20, temperature: 0.8, seed: 1 })) text += piece;
  say(`The jury said${text}`);

  // train: one AdamW step on the sentence, predicting each next token
  const batch = tensor([ids], { dtype: "int32" });
  const optimizer = new AdamW(model.parameters(), { lr: 1e-3 });
  const logits = model.train().forward(batch.slice(1, 0, ids.length - 1));
  const loss = crossEntropy(logits, batch.slice(1, 1).contiguous());
  loss.backward();
  optimizer.step();
  say(`loss before the step ${(await loss.data())[0].toFixed(3)}`);
  return { ids, text, loss: (await loss.data())[0] };
}

if (import.meta.url === `file://${process.argv[1]}`) await quickstart(process.argv[2] ?? "out/demo/checkpoint");
