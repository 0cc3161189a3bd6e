/**
 * The page: a source box (a model folder's URL or a Hub id), per-file load progress, and a chat
 * whose replies stream in. The model runs in a Web Worker, so the page stays responsive; a
 * heartbeat counts the page's timer ticks while replies stream (window.__chat, for the test).
 */
import type { FromWorker, ToWorker } from "./messages.js";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const params = new URLSearchParams(location.search);
const sourceBox = $<HTMLInputElement>("source");
const loadButton = $<HTMLButtonElement>("load");
const progressList = $<HTMLDivElement>("progress");
const statusLine = $<HTMLParagraphElement>("status");
const log = $<HTMLDivElement>("log");
const form = $<HTMLFormElement>("form");
const input = $<HTMLInputElement>("message");

/** What the test reads: load events, replies, errors, and the heartbeat. */
const state = {
  ready: false,
  backend: "",
  progress: [] as { file: string; loaded: number; total: number | null; done: boolean; cached: boolean }[],
  replies: [] as string[],
  pieces: 0,
  errors: [] as string[],
  ticksWhileStreaming: 0,
  streaming: false,
};
(globalThis as unknown as { __chat: typeof state }).__chat = state;
setInterval(() => {
  if (state.streaming) state.ticksWhileStreaming++;
}, 5);

sourceBox.value = params.get("source") ?? "HuggingFaceTB/SmolLM2-135M-Instruct";
const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
const send = (message: ToWorker) => worker.postMessage(message);
const bars = new Map<string, HTMLProgressElement>();
let current: HTMLDivElement | null = null;

function load(): void {
  state.ready = false;
  statusLine.textContent = "loading...";
  progressList.textContent = "";
  bars.clear();
  const backend = (params.get("backend") ?? "auto") as "auto" | "webgpu" | "cpu";
  send({
    type: "load",
    source: sourceBox.value.trim(),
    endpoint: params.get("endpoint") ?? undefined,
    revision: params.get("revision") ?? undefined,
    backend,
    maxNewTokens: Number(params.get("max_new_tokens") ?? 64),
  });
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const m = event.data;
  if (m.type === "progress") {
    const p = m.progress;
    state.progress.push({ ...p });
    let bar = bars.get(p.file);
    if (!bar) {
      const row = document.createElement("div");
      row.textContent = `${p.file} `;
      bar = document.createElement("progress");
      row.append(bar);
      progressList.append(row);
      bars.set(p.file, bar);
    }
    bar.max = p.total ?? 1;
    bar.value = p.total ? p.loaded : p.done ? 1 : 0;
    bar.title = `${p.loaded} bytes${p.cached ? " (cached)" : ""}`;
  } else if (m.type === "ready") {
    state.ready = true;
    state.backend = m.backend;
    statusLine.textContent = `ready: ${m.location} on ${m.backend} in ${m.seconds.toFixed(1)} s${m.hasTemplate ? "" : " (no chat template)"}`;
    input.disabled = false;
  } else if (m.type === "piece") {
    state.pieces++;
    current!.textContent += m.text;
  } else if (m.type === "done") {
    state.streaming = false;
    state.replies.push(m.reply);
    current = null;
    input.disabled = false;
    input.focus();
  } else if (m.type === "error") {
    state.streaming = false;
    state.errors.push(m.message);
    statusLine.textContent = `error: ${m.message}`;
    input.disabled = false;
  }
};

function bubble(role: string, text: string): HTMLDivElement {
  const div = document.createElement("div");
  div.className = `msg ${role}`;
  div.textContent = text;
  log.append(div);
  return div;
}

loadButton.onclick = load;
form.onsubmit = (event) => {
  event.preventDefault();
  const text = input.value.trim();
  if (!text || !state.ready || state.streaming) return;
  input.value = "";
  input.disabled = true;
  bubble("user", text);
  current = bubble("assistant", "");
  state.streaming = true;
  send({ type: "send", text });
};
if (params.has("source")) load();
