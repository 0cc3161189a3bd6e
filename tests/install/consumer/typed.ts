// A TypeScript consumer of every package's public types, checked with skipLibCheck: false under
// moduleResolution "bundler" and "node16": the declarations must stand on their own.
import { createModel, type Model } from "@llm/models";
import { loadModel } from "@llm/models/node";
import { generateText, type TextCodec } from "@llm/sampling";
import { tensor, type Tensor } from "@llm/tensor";
import { readSafetensorsFile } from "@llm/tensor/node";
import { fromTokenizerJson, type Tokenizer } from "@llm/tokenizer";
import { AdamW, Trainer } from "@llm/train";
import { createWebGPUBackend, type WebGPUBackend } from "@llm/webgpu";
import { Linear, type TransformerLanguageModel } from "@llm/layers";
import { ChatTemplate, type ChatMessage, type LoadProgress, type Pretrained } from "@llm/pretrained";
import { loadPretrained } from "@llm/pretrained/node";

export async function chatTyped(source: string): Promise<string> {
  const progress: LoadProgress[] = [];
  const pretrained: Pretrained = await loadPretrained(source, { onProgress: (p) => progress.push(p), revision: "main" });
  const messages: ChatMessage[] = [{ role: "user", content: "hi" }];
  const chat = pretrained.chat({ system: "Be brief.", maxNewTokens: 4 });
  let reply = "";
  for await (const piece of chat.send("hello")) reply += piece;
  const template = new ChatTemplate("{{ messages[0].content }}");
  return `${reply}${template.render(messages)}${pretrained.applyChatTemplate(messages, { addGenerationPrompt: true })}${progress.length}`;
}

export async function typed(dir: string): Promise<string> {
  const model: Model = await loadModel(dir);
  const weights: Record<string, Tensor> = await readSafetensorsFile(`${dir}/model.safetensors`);
  const fresh: TransformerLanguageModel = createModel({
    model_type: "gpt2",
    vocab_size: 8,
    n_positions: 8,
    n_embd: 8,
    n_head: 2,
    n_layer: 1,
  });
  const tokenizer: Tokenizer = fromTokenizerJson("{}");
  const codec: TextCodec = tokenizer;
  let text = "";
  for await (const piece of generateText(model, codec, "hi", { maxNewTokens: 2 })) text += piece;
  const optimizer = new AdamW(fresh.parameters());
  const trainer: typeof Trainer = Trainer;
  const linear = new Linear(2, 3);
  const y: Tensor = linear.forward(tensor([[1, 2]]));
  const backend: WebGPUBackend = await createWebGPUBackend();
  const device: GPUDevice = backend.device;
  return `${text} ${Object.keys(weights).length} ${optimizer.constructor.name} ${trainer.name} ${y.shape} ${device.label}`;
}
