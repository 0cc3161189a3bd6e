/**
 * The browser example (examples/webgpu-browser) in headless Chromium: the page loads the GPT-2
 * fixture over HTTP, decodes greedily with the KV cache on navigator.gpu (SwiftShader without a
 * GPU), and its tokens must equal the reference gen_ids, read here independently.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { chromium } from "playwright-core";
import { cpuBackend, loadSafetensors } from "@llm/tensor";

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

if (!hasChromium) it.skip(`browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`, () => {});

describe.skipIf(!hasChromium)("examples/webgpu-browser in headless Chromium", () => {
  it("decodes the GPT-2 fixture's greedy tokens on navigator.gpu", async () => {
    // A computed specifier: the example's tools are plain JS outside this package's typecheck.
    const toolsUrl = new URL("../../../examples/webgpu-browser/tools.mjs", import.meta.url).href;
    const tools = (await import(/* @vite-ignore */ toolsUrl)) as Tools;
    await tools.buildPage();
    const server = await tools.serve();
    const profile = mkdtempSync(join(tmpdir(), "llm-webgpu-chromium-"));
    const context = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: ARGS });
    try {
      const page = await context.newPage();
      const consoleLines: string[] = [];
      page.on("console", (m) => consoleLines.push(m.text()));
      page.on("pageerror", (e) => consoleLines.push(`pageerror: ${e.message}`));
      await page.goto(server.url);
      await page.waitForFunction(() => (globalThis as unknown as { __result?: unknown }).__result !== undefined, undefined, {
        timeout: 110_000,
      });
      const result = await page.evaluate(
        () => (globalThis as unknown as { __result: { ok: boolean; ids: number[]; adapter: string; error?: string } }).__result,
      );
      const status = await page.textContent("#status");
      expect(result.error, `page error; console:\n${consoleLines.join("\n")}\nstatus:\n${status}`).toBeUndefined();
      const ref = loadSafetensors(readFileSync(new URL("../../../fixtures/models/gpt2/reference.safetensors", import.meta.url)), {
        backend: cpuBackend,
      });
      expect(result.ids).toEqual(Array.from(await ref.gen_ids!.data()));
      expect(result.ok).toBe(true);
      console.log(`browser (${result.adapter}): ${status?.split("\n").at(-1)}`);
    } finally {
      await context.close();
      await server.close();
      rmSync(profile, { recursive: true, force: true });
    }
  });
});
