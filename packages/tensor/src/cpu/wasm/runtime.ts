import { gemmModule, gemmShape } from "./gemm_module.js";

/** The instantiated GEMM module and the one memory its packed panels and C tiles live in. */
export interface WasmGemm {
  /** See gemm_module.ts; addresses and strides in bytes. */
  block(
    a: number, b: number, c: number, mp: number, np: number, kc: number, ldc: number, accumulate: number,
    aStep: number, aRow: number, aPanel: number, bStep: number, bPanel: number,
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

let instance: WasmGemm | null | undefined;

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

/**
 * The GEMM module, compiled on first use; null where WebAssembly or its SIMD is missing, or where
 * synchronous compilation is refused (a browser's main thread may cap it), so callers fall back to JS.
 */
export function wasmGemm(): WasmGemm | null {
  if (instance === undefined) instance = instantiate();
  return instance;
}

function instantiate(): WasmGemm | null {
  const WebAssembly = (globalThis as { WebAssembly?: WasmApi }).WebAssembly;
  if (WebAssembly === undefined) return null;
  try {
    const bytes = gemmModule(gemmShape);
    // validate is the feature test: the module uses SIMD opcodes, so it fails without SIMD
    if (!WebAssembly.validate(bytes)) return null;
    const memory = new WebAssembly.Memory({ initial: 1 });
    const exports = new WebAssembly.Instance(new WebAssembly.Module(bytes), { env: { memory } }).exports;
    let view = new Float32Array(memory.buffer);
    return {
      block: exports["block"] as WasmGemm["block"],
      transpose: exports["transpose"] as WasmGemm["transpose"],
      row: exports["row"] as WasmGemm["block"],
      f32(bytes: number): Float32Array | null {
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
      },
    };
  } catch {
    return null;
  }
}

/** LLM_TENSOR_WASM=0 in the environment turns the WASM kernels off (where there is an environment). */
export function wasmDisabledByEnv(): boolean {
  const env = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env;
  return env?.["LLM_TENSOR_WASM"] === "0";
}
