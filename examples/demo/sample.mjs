// --model DIR: generate from a checkpoint folder (config.json + model.safetensors + tokenizer.json),
// one this demo saved or one downloaded from a model hub.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "@llm/models/node";
import { generateText } from "@llm/sampling";
import { fromTokenizerJson } from "@llm/tokenizer";

export async function generateFromCheckpoint(dir, prompt, maxNewTokens) {
  const tokenizerPath = join(dir, "tokenizer.json");
  if (!existsSync(tokenizerPath)) throw new Error(`--model ${dir}: expected a tokenizer.json beside config.json, found none`);
  const tokenizer = fromTokenizerJson(readFileSync(tokenizerPath), tokenizerPath);
  const model = await loadModel(dir);
  console.log(
    `loaded ${dir}: ${model
      .parameters()
      .reduce((n, p) => n + p.size, 0)
      .toLocaleString("en-US")} parameters, vocabulary ${tokenizer.vocabSize}`,
  );
  process.stdout.write(prompt);
  for await (const piece of generateText(model, tokenizer, prompt, { maxNewTokens, temperature: 0.8, topK: 40, seed: 0 })) {
    process.stdout.write(piece);
  }
  process.stdout.write("\n");
}
