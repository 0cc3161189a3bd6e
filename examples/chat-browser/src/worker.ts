/**
 * The model lives here, off the page's thread: loading (with progress), WebGPU (or the CPU when
 * there is no adapter), and the chat, whose replies stream back piece by piece.
 */
import { type ChatSession, loadPretrained, type Pretrained } from "@llm/pretrained";
import { setBackend, type Backend } from "@llm/tensor";
import { createWebGPUBackend } from "@llm/webgpu";
import type { FromWorker, ToWorker } from "./messages.js";

const post = (message: FromWorker) => (self as unknown as Worker).postMessage(message);
let model: Pretrained | null = null;
let chat: ChatSession | null = null;
let maxNewTokens = 64;

/** WebGPU when asked for (or available), else the CPU; says which. */
async function pickBackend(choice: "auto" | "webgpu" | "cpu"): Promise<{ backend?: Backend; name: string }> {
  if (choice === "cpu") return { name: "cpu" };
  try {
    const backend = await createWebGPUBackend();
    setBackend(backend);
    const info = backend.adapterInfo;
    return { backend, name: `webgpu (${`${info?.vendor ?? ""} ${info?.architecture ?? ""}`.trim() || "adapter"})` };
  } catch (error) {
    if (choice === "webgpu") throw error;
    return { name: `cpu (no WebGPU: ${(error as Error).message.split(".")[0]})` };
  }
}

self.onmessage = async (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  try {
    if (message.type === "load") {
      const started = performance.now();
      const { backend, name } = await pickBackend(message.backend);
      model?.dispose();
      model = await loadPretrained(message.source, {
        endpoint: message.endpoint,
        revision: message.revision,
        backend,
        onProgress: (progress) => post({ type: "progress", progress }),
      });
      maxNewTokens = message.maxNewTokens;
      chat = model.chat({ maxNewTokens });
      post({
        type: "ready",
        backend: name,
        location: model.location,
        hasTemplate: model.chatTemplate !== null,
        seconds: (performance.now() - started) / 1000,
      });
    } else if (message.type === "send") {
      if (!chat) throw new Error("no model loaded yet");
      let reply = "";
      for await (const piece of chat.send(message.text)) {
        reply += piece;
        post({ type: "piece", text: piece });
      }
      post({ type: "done", reply, cached: chat.cachedLength });
    } else if (message.type === "reset") {
      chat?.reset();
    }
  } catch (error) {
    post({ type: "error", message: (error as Error).message });
  }
};
