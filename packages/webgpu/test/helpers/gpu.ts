import { existsSync } from "node:fs";
import { afterAll, it } from "vitest";
import { createWebGPUBackend, probeWebGPU, type WebGPUBackend } from "../../src/index.js";

/**
 * The WebGPU backend for a test file, or null with the reason it cannot run here.
 *
 * Without a GPU, Dawn finds SwiftShader through chromium's Vulkan ICD; when that file exists and
 * VK_ICD_FILENAMES is unset we point at it, so `pnpm vitest` works with no setup. Where an ICD is
 * configured (CI sets VK_ICD_FILENAMES), a missing adapter fails the tests instead of skipping.
 */
const SWIFTSHADER_ICD = "/usr/lib/chromium/vk_swiftshader_icd.json";
if (!process.env.VK_ICD_FILENAMES && existsSync(SWIFTSHADER_ICD)) process.env.VK_ICD_FILENAMES = SWIFTSHADER_ICD;
process.env.XDG_RUNTIME_DIR ??= "/tmp";

const icd = process.env.VK_ICD_FILENAMES;
export const adapterRequired = !!icd && existsSync(icd);

const probe = await probeWebGPU();
if (!probe.ok && adapterRequired) {
  throw new Error(`VK_ICD_FILENAMES=${icd} is set, so a WebGPU adapter was expected, but: ${probe.reason}`);
}

/** Null when there is no adapter; then `skipReason` says why. */
export const backend: WebGPUBackend | null = probe.ok ? await createWebGPUBackend() : null;
export const skipReason = probe.ok ? "" : `WebGPU tests skipped: ${probe.reason}`;

/** Registers one skipped test that carries the reason, so reports show why nothing ran. */
export function reportSkip(): void {
  if (!backend) it.skip(skipReason, () => {});
}

afterAll(() => backend?.destroy());
