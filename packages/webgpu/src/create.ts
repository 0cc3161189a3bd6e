import { WebGPUUnavailableError } from "./errors.js";
import { WebGPUBackend } from "./webgpu-backend.js";

export interface CreateWebGPUBackendOptions {
  /** Use this adapter instead of requesting one. */
  adapter?: GPUAdapter;
  /** Use this device as is (its features and limits); the backend will not destroy it. */
  device?: GPUDevice;
  powerPreference?: GPUPowerPreference;
  /** Turn off optional features the adapter has, e.g. to test the fallback kernels. */
  disableFeatures?: readonly ("shader-f16" | "subgroups")[];
}

const HOW_TO_GET_ONE =
  "In a browser, use one with WebGPU enabled (Chrome/Edge 113+, or a flag). In Node, install the " +
  "`webgpu` package (npm i webgpu) and have a Vulkan, Metal or D3D12 driver; without a GPU on " +
  "Linux, install chromium and libvulkan1 (apt-get install chromium libvulkan1) and set " +
  "VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json (and XDG_RUNTIME_DIR) to use the " +
  "SwiftShader software adapter.";

/** navigator.gpu in browsers; Dawn (the `webgpu` package) in Node. */
async function gpuEntryPoint(): Promise<{ gpu: GPU; keepAlive?: unknown }> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return { gpu: nav.gpu };
  const isNode = typeof process !== "undefined" && !!process.versions?.node;
  if (!isNode) throw new WebGPUUnavailableError(`webgpu: navigator.gpu is not available in this browser. ${HOW_TO_GET_ONE}`);
  // A computed specifier keeps bundlers from pulling the native module into browser builds.
  const specifier = "webgpu";
  let dawn: { create(flags: string[]): GPU; globals: Record<string, unknown> };
  try {
    dawn = (await import(/* @vite-ignore */ specifier)) as typeof dawn;
  } catch (e) {
    throw new WebGPUUnavailableError(
      `webgpu: could not load the \`webgpu\` package (Dawn for Node): ${(e as Error).message}. ${HOW_TO_GET_ONE}`,
    );
  }
  const gpu = dawn.create([]);
  return { gpu, keepAlive: gpu };
}

/** Limits worth raising from the defaults: large weights, many bindings, big workgroups. */
const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupStorageSize",
  "maxComputeInvocationsPerWorkgroup",
  "maxComputeWorkgroupSizeX",
] as const;

export async function createWebGPUBackend(options: CreateWebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  if (options.device) {
    const device = options.device;
    return new WebGPUBackend({
      device,
      features: {
        shaderF16: device.features.has("shader-f16"),
        subgroups: device.features.has("subgroups") && (await subgroupIdWorks(device)),
      },
      ownsDevice: false,
    });
  }
  let adapter = options.adapter ?? null;
  let keepAlive: unknown;
  if (!adapter) {
    const entry = await gpuEntryPoint();
    keepAlive = entry.keepAlive;
    adapter = await entry.gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
    if (!adapter) throw new WebGPUUnavailableError(`webgpu: no WebGPU adapter was found. ${HOW_TO_GET_ONE}`);
  }
  const disabled = new Set(options.disableFeatures ?? []);
  const features: GPUFeatureName[] = [];
  for (const f of ["shader-f16", "subgroups", "timestamp-query"] as const) {
    if (adapter.features.has(f) && !disabled.has(f as "shader-f16")) features.push(f);
  }
  const requiredLimits: Record<string, number> = {};
  for (const name of WANTED_LIMITS) requiredLimits[name] = adapter.limits[name];
  const device = await adapter.requestDevice({ requiredFeatures: features, requiredLimits });
  return new WebGPUBackend({
    device,
    adapterInfo: adapter.info,
    features: { shaderF16: features.includes("shader-f16"), subgroups: features.includes("subgroups") && (await subgroupIdWorks(device)) },
    ownsDevice: true,
    keepAlive,
  });
}

/** True when an adapter can be had here (tests use it to decide whether to skip, and say why). */
export async function probeWebGPU(): Promise<{ ok: true } | { ok: false; reason: string }> {
  try {
    const { gpu } = await gpuEntryPoint();
    const adapter = await gpu.requestAdapter();
    return adapter ? { ok: true } : { ok: false, reason: `no WebGPU adapter was found. ${HOW_TO_GET_ONE}` };
  } catch (e) {
    return { ok: false, reason: (e as Error).message };
  }
}

/**
 * The subgroup kernels use the `subgroup_id` builtin, which arrived in WGSL after the `subgroups`
 * feature itself: compile a one-line shader to see whether this implementation has it.
 */
async function subgroupIdWorks(device: GPUDevice): Promise<boolean> {
  device.pushErrorScope("validation");
  const module = device.createShaderModule({
    code: `enable subgroups;
@group(0) @binding(0) var<storage, read_write> o: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(subgroup_id) s: u32) { o[s] = subgroupAdd(1.0); }`,
  });
  device.createComputePipeline({ layout: "auto", compute: { module, entryPoint: "main" } });
  return (await device.popErrorScope()) === null;
}
