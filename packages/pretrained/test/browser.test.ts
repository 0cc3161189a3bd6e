/**
 * The chat page (examples/chat-browser) in headless Chromium: it loads a model by Hub id from a
 * local server in the Hub's layout (test/helpers/hub_server.ts, another origin than the page), in a
 * Web Worker on WebGPU (SwiftShader without a GPU; the CPU where there is no adapter), shows
 * per-file progress, and streams a chat whose replies must be the ones the same model gives in
 * Node. A second load comes from the Cache API with no request.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadPretrained } from "../src/node.js";
import { chatFolder } from "./helpers/folders.js";
import { serveHub, type HubServer } from "./helpers/hub_server.js";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const hasChromium = existsSync(CHROMIUM);
// Flags checked to give a WebGPU adapter (SwiftShader) in headless Chromium without a GPU.
const ARGS = [
  "--no-sandbox",
  "--enable-unsafe-webgpu",
  "--headless=new",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--no-first-run",
];

interface Tools {
  buildPage(): Promise<string>;
  serve(port?: number): Promise<{ url: string; close(): Promise<void> }>;
}
interface ChatState {
  ready: boolean;
  backend: string;
  progress: { file: string; loaded: number; total: number | null; done: boolean; cached: boolean }[];
  replies: string[];
  pieces: number;
  errors: string[];
  ticksWhileStreaming: number;
}

if (!hasChromium) it.skip(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`, () => {});

describe.skipIf(!hasChromium)("examples/chat-browser in headless Chromium", () => {
  let work: string;
  let hub: HubServer;
  let page: { url: string; close(): Promise<void> };
  let folder: string;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), "llm-chat-browser-"));
    folder = await chatFolder(join(work, "chat"));
    hub = await serveHub({ "test-org/chat": folder });
    const toolsUrl = new URL("../../../examples/chat-browser/tools.mjs", import.meta.url).href;
    const tools = (await import(/* @vite-ignore */ toolsUrl)) as Tools;
    await tools.buildPage();
    page = await tools.serve();
  });
  afterAll(async () => {
    await hub?.close();
    await page?.close();
    rmSync(work, { recursive: true, force: true });
  });

  const state = (p: Page) => p.evaluate(() => (globalThis as unknown as { __chat: ChatState }).__chat);

  async function say(p: Page, text: string, replies: number): Promise<void> {
    await p.fill("#message", text);
    await p.press("#message", "Enter");
    await p.waitForFunction(
      (n) => {
        const s = (globalThis as unknown as { __chat: ChatState }).__chat;
        return s.replies.length >= n || s.errors.length > 0;
      },
      replies,
      { timeout: 100_000 },
    );
  }

  it("loads by Hub id in a worker, shows progress, streams replies equal to Node's, and loads again from the Cache API", async () => {
    const profile = mkdtempSync(join(tmpdir(), "llm-chat-chromium-"));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    try {
      const tab = await context.newPage();
      const consoleLines: string[] = [];
      tab.on("console", (m) => consoleLines.push(m.text()));
      tab.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
      const url = `${page.url}?source=test-org/chat&endpoint=${encodeURIComponent(hub.url)}&max_new_tokens=8`;
      const before = hub.requests.length;
      await tab.goto(url);
      await tab.waitForFunction(
        () => {
          const s = (globalThis as unknown as { __chat: ChatState }).__chat;
          return s.ready || s.errors.length > 0;
        },
        undefined,
        { timeout: 100_000 },
      );
      let s = await state(tab);
      expect(s.errors, `console:\n${consoleLines.join("\n")}`).toEqual([]);
      expect(hub.requests.length).toBeGreaterThan(before);
      // every file of the folder arrived over the network, and said so as it did
      const done = s.progress.filter((e) => e.done);
      expect(done.map((e) => e.file).sort()).toEqual([
        "config.json",
        "generation_config.json",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
      ]);
      expect(done.every((e) => !e.cached && e.loaded === e.total)).toBe(true);
      expect(await tab.textContent("#status")).toMatch(/^ready: .*test-org\/chat\/resolve\/main on /);

      await say(tab, "The jury said", 1);
      await say(tab, "In the morning", 2);
      s = await state(tab);
      expect(s.errors).toEqual([]);
      const node = await loadPretrained(folder);
      const chat = node.chat({ maxNewTokens: 8 });
      const expected = [await chat.reply("The jury said"), await chat.reply("In the morning")];
      node.dispose();
      expect(s.replies).toEqual(expected);
      expect(await tab.locator(".assistant").allTextContents()).toEqual(expected);
      // the page's own timer kept running while replies streamed: the model is not on its thread
      expect(s.pieces).toBeGreaterThan(0);
      expect(s.ticksWhileStreaming).toBeGreaterThan(0);
      console.log(`browser chat on ${s.backend}: ${JSON.stringify(s.replies)}`);

      // a reload loads from the Cache API: no request reaches the server
      const second = hub.requests.length;
      await tab.reload();
      await tab.waitForFunction(() => (globalThis as unknown as { __chat: ChatState }).__chat.ready, undefined, { timeout: 100_000 });
      s = await state(tab);
      expect(hub.requests.slice(second)).toEqual([]);
      expect(s.progress.length).toBeGreaterThan(0);
      expect(s.progress.every((e) => e.cached && e.done)).toBe(true);

      // the CPU fallback (backend=cpu) gives the same replies
      await tab.goto(`${url}&backend=cpu`);
      await tab.waitForFunction(() => (globalThis as unknown as { __chat: ChatState }).__chat.ready, undefined, { timeout: 100_000 });
      await say(tab, "The jury said", 1);
      s = await state(tab);
      expect(s.backend).toBe("cpu");
      expect(s.replies).toEqual([expected[0]]);
    } finally {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
