import { activationModule } from "./activation_module.js";
import { gemvModule } from "./gemv_module.js";
import { gemmModule, gemmShape } from "./gemm_module.js";

/** The instantiated GEMM module and the one memory its packed panels and C tiles live in. */
export interface WasmGemm {
  /** See gemm_module.ts; addresses and strides in bytes. */
  block(
    a: number,
    b: number,
    c: number,
    mp: number,
    np: number,
    kc: number,
    ldc: number,
    accumulate: number,
    aStep: number,
    aRow: number,
    aPanel: number,
    bStep: number,
    bPanel: number,
  ): void;
  /** `block` with one-row panels (mp = rows), for single-row products. */
  row: WasmGemm["block"];
  /** See transpose_module.ts; addresses and strides in bytes. */
  transpose(src: number, ld: number, dst: number, k4: number, np: number): void;
  /**
   * A float32 view of at least `bytes` bytes of the memory (grown, and the view renewed, as
   * needed); null when the memory cannot grow that far.
   */
  f32(bytes: number): Float32Array | null;
}

/** The activation kernels of activation_module.ts; addresses in bytes, n4 groups of four floats. */
export interface WasmActivations {
  geluTanh(src: number, dst: number, n4: number): void;
  geluTanhGrad(x: number, g: number, dst: number, n4: number): void;
  silu(src: number, dst: number, n4: number): void;
  siluGrad(x: number, g: number, dst: number, n4: number): void;
  expSum(src: number, n4: number, shift: number, out: number): void;
  expScaleSub(y: number, g: number, dst: number, n4: number, s: number): void;
  /** The shared memory as float32 (see WasmGemm.f32). */
  f32: WasmGemm["f32"];
}

/** The single-row kernels of gemv_module.ts; addresses and strides in bytes. */
export interface WasmGemv {
  gemvN(x: number, b: number, y: number, k: number, n4: number, ldb: number): void;
  gemvT(w: number, x: number, y: number, n: number, k4: number, ldw: number): void;
  f32: WasmGemm["f32"];
}

/** Staging space beyond this (a product with millions of rows) goes to the JS kernel instead. */
const MAX_BYTES = 1 << 30;

/** The slice of the WebAssembly JS API used here (the compile target's lib declares none). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Memory: new (descriptor: { initial: number }) => WasmMemory;
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: Record<string, unknown> };
}

/** One memory for every module: kernels run one at a time, each staging its operands from address 0. */
interface Shared {
  api: WasmApi;
  memory: WasmMemory;
  f32: WasmGemm["f32"];
}

let shared: Shared | null | undefined;
let gemm: WasmGemm | null | undefined;
let activations: WasmActivations | null | undefined;
let gemv: WasmGemv | null | undefined;

function sharedMemory(): Shared | null {
  if (shared !== undefined) return shared;
  const api = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (api === undefined) return (shared = null);
  try {
    const memory = new api.Memory({ initial: 1 });
    let view = new Float32Array(memory.buffer);
    const f32 = (bytes: number): Float32Array | null => {
      const have = memory.buffer.byteLength;
      if (bytes > MAX_BYTES) return null;
      if (bytes > have) {
        try {
          memory.grow(Math.ceil((bytes - have) / 65536));
        } catch {
          return null; // out of memory: the caller runs the JS kernel
        }
      }
      // growing detaches the old buffer
      if (view.buffer !== memory.buffer) view = new Float32Array(memory.buffer);
      return view;
    };
    return (shared = { api, memory, f32 });
  } catch {
    return (shared = null);
  }
}

/** The exports of `bytes` instantiated on the shared memory; null where it does not validate (no SIMD) or compile. */
export function instantiate(bytes: () => Uint8Array): { exports: Record<string, unknown>; f32: Shared["f32"] } | null {
  const s = sharedMemory();
  if (s === null) return null;
  try {
    const code = bytes();
    // validate is the feature test: the modules use SIMD opcodes, so they fail without SIMD
    if (!s.api.validate(code)) return null;
    return { exports: new s.api.Instance(new s.api.Module(code), { env: { memory: s.memory } }).exports, f32: s.f32 };
  } catch {
    return null;
  }
}

/**
 * The GEMM module, compiled on first use; null where WebAssembly or its SIMD is missing, or where
 * synchronous compilation is refused (a browser's main thread may cap it), so callers fall back to JS.
 */
export function wasmGemm(): WasmGemm | null {
  if (gemm !== undefined) return gemm;
  const m = instantiate(() => gemmModule(gemmShape));
  return (gemm = m && {
    block: m.exports.block as WasmGemm["block"],
    transpose: m.exports.transpose as WasmGemm["transpose"],
    row: m.exports.row as WasmGemm["block"],
    f32: m.f32,
  });
}

/** The activation module, compiled on first use; null where the GEMM module would be. */
export function wasmActivations(): WasmActivations | null {
  if (activations !== undefined) return activations;
  const m = instantiate(activationModule);
  return (activations = m && {
    geluTanh: m.exports.gelu_tanh as WasmActivations["geluTanh"],
    geluTanhGrad: m.exports.gelu_tanh_grad as WasmActivations["geluTanhGrad"],
    silu: m.exports.silu as WasmActivations["silu"],
    siluGrad: m.exports.silu_grad as WasmActivations["siluGrad"],
    expSum: m.exports.exp_sum as WasmActivations["expSum"],
    expScaleSub: m.exports.exp_scale_sub as WasmActivations["expScaleSub"],
    f32: m.f32,
  });
}

/** The single-row (decoding) matmul module, compiled on first use; null where the GEMM module would be. */
export function wasmGemv(): WasmGemv | null {
  if (gemv !== undefined) return gemv;
  const m = instantiate(gemvModule);
  return (gemv = m && { gemvN: m.exports.gemv_n as WasmGemv["gemvN"], gemvT: m.exports.gemv_t as WasmGemv["gemvT"], f32: m.f32 });
}

/** LLM_TENSOR_WASM=0 in the environment turns the WASM kernels off (where there is an environment). */
export function wasmDisabledByEnv(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.LLM_TENSOR_WASM === "0";
}
